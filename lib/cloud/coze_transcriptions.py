# Coze speech recognition (wss://ws.coze.cn/v1/audio/transcriptions): a dictation mode.
#
# The device streams audio_frame() while the user talks and end_turn() (input_audio_buffer.
# complete) when done; EV_TRANSCRIPT carries the full text so far (transcriptions.message.update),
# EV_TURN_DONE the end (transcriptions.message.completed). Send session_update() on EV_CREATED.
from cloud import coze_config
from cloud.base import (
    EV_CLEARED,
    EV_CREATED,
    EV_ERROR,
    EV_INPUT_DONE,
    EV_READY,
    EV_TRANSCRIPT,
    EV_TURN_DONE,
)
from cloud.coze import COMMON_KEYS, CozeSession
from cloud.settings import Settings

KNOWN = COMMON_KEYS + coze_config.INPUT_KEYS + coze_config.ASR_KEYS


class CozeTranscriptions(CozeSession):
    NAME = "coze-asr"
    PATH = "v1/audio/transcriptions"
    KINDS = {
        "transcriptions.created": EV_CREATED,
        "transcriptions.updated": EV_READY,
        "input_audio_buffer.completed": EV_INPUT_DONE,
        "input_audio_buffer.cleared": EV_CLEARED,
        "transcriptions.message.update": EV_TRANSCRIPT,
        "transcriptions.message.completed": EV_TURN_DONE,
        "error": EV_ERROR,
    }

    def __init__(self, settings, log=None):
        s = Settings(settings, KNOWN)
        self.config = {"input_audio": coze_config.input_audio(s)}
        asr = coze_config.asr_config(s)
        if asr:
            # In the ASR event reference (seeds/coze-asr-events.txt), not in cozepy 0.20's model.
            self.config["asr_config"] = asr
        self._max_frame = coze_config.max_frame_bytes(s)
        super().__init__(settings, s, log)

    def max_frame_bytes(self):
        return self._max_frame

    def session_update(self):
        return self.message("transcriptions.update", self.config)

    def end_turn(self):
        return (self.message("input_audio_buffer.complete"),)

    def clear_input(self):
        return self.message("input_audio_buffer.clear")
