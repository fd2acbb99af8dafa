# Coze streaming voice chat (wss://ws.coze.cn/v1/chat): push-to-talk and free talk.
#
# Flow (protocol.md section 1): connect; on EV_CREATED (chat.created) send session_update()
# (chat.update); EV_READY (chat.updated) means the config took. Push-to-talk: begin_turn() (it
# cancels a reply still playing), audio_frame() per mic frame, end_turn() sends
# input_audio_buffer.complete. Free talk: stream audio_frame() continuously; the server's VAD
# ends turns, and EV_SPEECH_STARTED / EV_CANCELED mean "stop playback, clear the player".
# EV_TOOL_CALL: run the tools (cloud/tools.py), send submit_tool_outputs(chat_id, outputs).
from cloud import coze_config
from cloud.base import (
    EV_AUDIO,
    EV_AUDIO_DONE,
    EV_CANCELED,
    EV_CLEARED,
    EV_CREATED,
    EV_ERROR,
    EV_FAILED,
    EV_INPUT_DONE,
    EV_MESSAGE_DONE,
    EV_PROGRESS,
    EV_READY,
    EV_SENTENCE,
    EV_SPEECH_STARTED,
    EV_SPEECH_STOPPED,
    EV_TEXT,
    EV_TOOL_CALL,
    EV_TRANSCRIPT,
    EV_TURN_DONE,
    EV_TURN_STARTED,
)
from cloud.coze import COMMON_KEYS, CozeSession
from cloud.settings import Settings

_GENERATE_AUDIO_MAX = 1024  # bytes of UTF-8; the server refuses longer text

KNOWN = (COMMON_KEYS + ("bot_id", "workflow_id") + coze_config.INPUT_KEYS
         + coze_config.OUTPUT_KEYS + coze_config.ASR_KEYS + coze_config.CHAT_KEYS)


class CozeChat(CozeSession):
    NAME = "coze-chat"
    PATH = "v1/chat"
    AUDIO = {b"conversation.audio.delta": (2, 4)}
    KINDS = {
        "chat.created": EV_CREATED,
        "chat.updated": EV_READY,
        "conversation.chat.created": EV_TURN_STARTED,
        "conversation.chat.in_progress": EV_PROGRESS,
        "conversation.message.delta": EV_TEXT,
        "conversation.message.completed": EV_MESSAGE_DONE,
        "conversation.audio.delta": EV_AUDIO,
        "conversation.audio.completed": EV_AUDIO_DONE,
        "conversation.audio.sentence_start": EV_SENTENCE,
        "conversation.audio_transcript.update": EV_TRANSCRIPT,
        "conversation.audio_transcript.completed": EV_TRANSCRIPT,
        "conversation.chat.completed": EV_TURN_DONE,
        "conversation.chat.failed": EV_FAILED,
        "conversation.chat.requires_action": EV_TOOL_CALL,
        "conversation.chat.canceled": EV_CANCELED,
        "input_audio_buffer.completed": EV_INPUT_DONE,
        "input_audio_buffer.cleared": EV_CLEARED,
        "conversation.cleared": EV_CLEARED,
        "input_audio_buffer.speech_started": EV_SPEECH_STARTED,
        "input_audio_buffer.speech_stopped": EV_SPEECH_STOPPED,
        "error": EV_ERROR,
    }

    def __init__(self, settings, log=None):
        s = Settings(settings, KNOWN)
        self.bot_id = s.digits("bot_id", required=True)
        self.workflow_id = s.digits("workflow_id")
        self.mode = s.choice("mode", ("ptt", "free"), "ptt")
        self.config = coze_config.chat_update(s)  # validates every audio/chat setting now
        self._max_frame = coze_config.max_frame_bytes(s)
        super().__init__(settings, s, log)

    def max_frame_bytes(self):
        return self._max_frame

    def _query(self):
        query = [("bot_id", self.bot_id)]
        if self.workflow_id is not None:
            query.append(("workflow_id", self.workflow_id))
        return query

    # the interface -------------------------------------------------------------------------
    def session_update(self):
        return self.message("chat.update", self.config)

    def begin_turn(self):
        # Push-to-talk over a reply still playing: interrupt it first (hardware guide step 5).
        if self.mode == "ptt" and self.responding:
            return self.cancel()
        return ()

    def end_turn(self):
        if self.mode == "ptt":
            return (self.message("input_audio_buffer.complete"),)
        return ()  # free talk: the server's VAD ends the turn

    def cancel(self):
        # The reply is over for the device from here: its late audio is stale, and begin_turn()
        # must not send a second cancel for it.
        self.stale_id = self.stream_id
        self.responding = False
        return (self.message("conversation.chat.cancel"),)

    def send_text(self, text):
        return (self.message_create("user", text),)

    def clear_input(self):
        return self.message("input_audio_buffer.clear")

    def new_conversation(self):
        return self.message("conversation.clear")

    def generate_audio(self, text):
        size = len(text.encode())
        if not 0 < size < _GENERATE_AUDIO_MAX:
            raise ValueError("generate_audio: text must be 1..%d bytes of UTF-8, got %d"
                             % (_GENERATE_AUDIO_MAX - 1, size))
        return self.message("input_text.generate_audio", {"mode": "text", "text": text})

    def submit_tool_outputs(self, chat_id, outputs):
        """outputs: (tool_call_id, output_text) pairs, as cloud.tools.dispatch returns them."""
        items = []
        for call_id, output in outputs:
            if not isinstance(output, str):
                raise ValueError("tool output for %s must be a string" % call_id)
            items.append({"tool_call_id": call_id, "output": output})
        return self.message("conversation.chat.submit_tool_outputs",
                            {"chat_id": chat_id, "tool_outputs": items})

    # Coze-only builders ----------------------------------------------------------------------
    def message_create(self, role, content, content_type="text"):
        if role not in ("user", "assistant"):
            raise ValueError("message role must be user or assistant, got %r" % (role,))
        if content_type not in ("text", "object_string"):
            raise ValueError("content_type must be text or object_string")
        return self.message("conversation.message.create",
                            {"role": role, "content_type": content_type, "content": content})
