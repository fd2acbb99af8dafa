# Coze streaming voice chat (wss://ws.coze.cn/v1/chat): push-to-talk and free talk.
#
# Flow (protocol.md section 1): connect; on EV_CREATED (chat.created) send session_update()
# (chat.update); EV_READY (chat.updated) means the config took. Push-to-talk: begin_turn() (it
# cancels a reply still running), audio_frame() per mic frame, end_turn() sends
# input_audio_buffer.complete. Free talk: stream audio_frame() continuously; the server's VAD
# ends turns, and EV_SPEECH_STARTED / EV_CANCELED mean "stop playback, clear the player".
# EV_TOOL_CALL: run the tools (cloud/tools.py), send submit_tool_outputs(chat_id, outputs).
# chat.update always carries the whole config, turn_detection included: a field left out is
# not reset by the server (the seed's update rule), so push-to-talk says client_interrupt.
# set_mode() / reconfigure() change the live session; send session_update() after them. The
# conversation id (session.reply) goes into every chat.update, so a reconnect resumes it.
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
    AUDIO = {b"conversation.audio.delta": (b"content", b"chat_id")}
    LIVE = ("mode", "voice_id", "speech_rate")
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
        s = self._configure(settings)  # validates every audio/chat setting now
        self.bot_id = s.digits("bot_id", required=True)
        self.workflow_id = s.digits("workflow_id")
        self._max_frame = coze_config.max_frame_bytes(s)
        out = self.config["output_audio"]
        self.out_codec = out["codec"]
        self.out_rate = (out.get("pcm_config") or {}).get("sample_rate")  # None: opus
        super().__init__(settings, s, log)
        self.reply.conversation_id = s.text("conversation_id")

    def _configure(self, settings):
        s = Settings(settings, KNOWN)
        mode = s.choice("mode", ("ptt", "free"), "ptt")
        config = coze_config.chat_update(s)
        self.mode, self.config = mode, config  # only once all of it is valid
        return s

    def max_frame_bytes(self):
        return self._max_frame

    def _query(self):
        query = [("bot_id", self.bot_id)]
        if self.workflow_id is not None:
            query.append(("workflow_id", self.workflow_id))
        return query

    # the interface -------------------------------------------------------------------------
    def session_update(self):
        data = self.config
        conversation = self.reply.conversation_id
        if conversation:
            data = dict(data)
            data["chat_config"] = dict(data.get("chat_config") or {},
                                       conversation_id=conversation)
        return self.message("chat.update", data)

    def begin_turn(self):
        # Push-to-talk over a reply still running: interrupt it first (hardware guide step 2).
        if self.mode == "ptt":
            return self.cancel()
        return ()

    def end_turn(self):
        if self.mode == "ptt":
            self.reply.asked()
            return (self.message("input_audio_buffer.complete"),)
        return ()  # free talk: the server's VAD ends the turn

    def _cancel_message(self):
        return self.message("conversation.chat.cancel")

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
