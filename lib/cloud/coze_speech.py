# Coze speech synthesis (wss://ws.coze.cn/v1/audio/speech): the device speaks a given text.
#
# send_text(text) -> input_text_buffer.append + complete; EV_AUDIO (speech.audio.update, fast
# path on data.delta) carries the audio, EV_SENTENCE the subtitle, EV_TURN_DONE
# (speech.audio.completed) the end. Send session_update() (speech.update) on EV_CREATED.
from cloud import coze_config
from cloud.base import (
    EV_AUDIO,
    EV_CREATED,
    EV_ERROR,
    EV_INPUT_DONE,
    EV_READY,
    EV_SENTENCE,
    EV_TURN_DONE,
)
from cloud.coze import COMMON_KEYS, CozeSession
from cloud.settings import Settings

KNOWN = COMMON_KEYS + coze_config.OUTPUT_KEYS
_TEXT_MAX = 1024  # bytes of UTF-8 per request (error 3010 above it)


class CozeSpeech(CozeSession):
    NAME = "coze-tts"
    PATH = "v1/audio/speech"
    AUDIO = {b"speech.audio.update": (b"delta", None)}
    KINDS = {
        "speech.created": EV_CREATED,
        "speech.updated": EV_READY,
        "input_text_buffer.completed": EV_INPUT_DONE,
        "speech.audio.update": EV_AUDIO,
        "speech.audio.completed": EV_TURN_DONE,
        "conversation.audio.sentence_start": EV_SENTENCE,  # seen in the coze-go capture
        "error": EV_ERROR,
    }

    def __init__(self, settings, log=None):
        s = Settings(settings, KNOWN)
        self.config = {"output_audio": coze_config.output_audio(s)}
        super().__init__(settings, s, log)

    def max_frame_bytes(self):
        return 0  # no uplink audio on this endpoint

    def audio_frame(self, pcm, nbytes):
        self._unsupported("uplink audio")

    def session_update(self):
        return self.message("speech.update", self.config)

    def send_text(self, text):
        size = len(text.encode())
        if not 0 < size <= _TEXT_MAX:
            raise ValueError("speech text must be 1..%d UTF-8 bytes, got %d" % (_TEXT_MAX, size))
        return (self.message("input_text_buffer.append", {"delta": text}),
                self.message("input_text_buffer.complete"))
