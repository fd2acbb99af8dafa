# What Coze's three WebSocket endpoints share: the envelope, the URL, auth, and the downlink.
#
# Envelope: {"id": <unique>, "event_type": "...", "data": {...}} up; down adds
# "detail": {"logid", "respond_at"}. Subclasses: CozeChat (v1/chat), CozeTranscriptions
# (v1/audio/transcriptions), CozeSpeech (v1/audio/speech). Each lists the downlink types it
# knows in KINDS; anything else is logged once and ignored.
from cloud import base
from cloud import reply as R
from cloud.base import (
    EV_AUDIO,
    EV_AUDIO_DONE,
    EV_CANCELED,
    EV_ERROR,
    EV_FAILED,
    EV_MESSAGE_DONE,
    EV_PROGRESS,
    EV_SENTENCE,
    EV_SPEECH_STARTED,
    EV_SPEECH_STOPPED,
    EV_TEXT,
    EV_TOOL_CALL,
    EV_TRANSCRIPT,
    EV_TURN_DONE,
    EV_TURN_STARTED,
    Event,
    Session,
    ToolCall,
)
from cloud.errors import ACT_IGNORE, action_for
from cloud.settings import bearer

COMMON_KEYS = ("base_url", "device_id")
_CHAT_OBJECT = (EV_TURN_STARTED, EV_PROGRESS, EV_TURN_DONE, EV_FAILED, EV_TOOL_CALL)
_MESSAGE_OBJECT = (EV_TEXT, EV_MESSAGE_DONE)


def _str(value):
    return value if isinstance(value, str) else None


class CozeSession(Session):
    NAME = "coze"
    PATH = ""
    DEFAULT_BASE = "wss://ws.coze.cn"
    TYPE_KEY = b"event_type"
    ID_KEY = b"id"
    PARENT = b"data"
    INNER = (b"content", b"delta", b"chat_id")  # what the fast path reads inside data
    FRAME_PREFIX = b'{"id":"....","event_type":"input_audio_buffer.append","data":{"delta":"'
    FRAME_SUFFIX = b'"}}'
    KINDS = {}

    def __init__(self, settings, s, log=None):
        self._s = s
        self.base_url = s.base_url("base_url", self.DEFAULT_BASE)
        self.device_id = s.digits("device_id")
        self.logid = None  # this connection's detail.logid: Coze support traces a call by it
        super().__init__(settings, log)

    def on_open(self):
        self.logid = None
        return super().on_open()

    def _query(self):
        return []

    def url(self):
        query = self._query()
        if self.device_id is not None:
            query.append(("device_id", self.device_id))
        url = self.base_url + "/" + self.PATH
        if query:
            url += "?" + "&".join(k + "=" + v for k, v in query)
        return url

    def headers(self, token):
        return bearer(token)

    def message(self, event_type, data=None):
        """One uplink message with a fresh id."""
        msg = {"id": self.next_id(), "event_type": event_type}
        if data is not None:
            msg["data"] = data
        return base.dumps(msg)

    # downlink ------------------------------------------------------------------------------
    def _parse(self, type_, event_id, msg):
        kind = self.KINDS.get(type_)
        if kind is None:
            return None
        data = msg.get("data")
        if not isinstance(data, dict):
            data = {}
        if kind == EV_AUDIO:
            key = "content" if type_ == "conversation.audio.delta" else "delta"
            content = _str(data.get(key))
            if content is None:
                self._missing(type_, event_id, "data." + key)
            return self._slow_audio(type_, event_id, _str(data.get("chat_id")))
        event = Event(kind, type_, event_id)
        event.data = msg.get("data")
        detail = msg.get("detail")
        if isinstance(detail, dict):
            event.logid = _str(detail.get("logid"))
            if event.logid:
                self.logid = event.logid
        reply = self.reply
        if kind in _CHAT_OBJECT and type_.startswith("conversation.chat."):
            self._chat_object(event, data)
        elif kind in _MESSAGE_OBJECT:
            self._message_object(event, data)
        elif kind == EV_SENTENCE:
            event.text = _str(data.get("text"))
            if event.text is None:
                self._missing(type_, event_id, "data.text")
        elif kind == EV_TRANSCRIPT:
            event.text = _str(data.get("content"))
            if event.text is None:
                self._missing(type_, event_id, "data.content")
            event.final = type_.endswith("completed")
        elif kind == EV_CANCELED:
            # The @coze/api types define it without data; code (1 user speech, 2 our cancel,
            # 3 a new message) is a detail: the reply is over either way.
            code = data.get("code")
            event.code = code if isinstance(code, int) else None
            event.msg = _str(data.get("msg")) or ""
            reply.ended(R.CANCELLED)
        elif kind == EV_SPEECH_STARTED:
            reply.drop()  # the server's VAD interrupts the reply: what is left of it is old
        elif kind == EV_SPEECH_STOPPED:
            reply.asked()
        elif kind == EV_AUDIO_DONE:
            event.final = reply.audio_done()  # no chat around it: this ends the reply
        elif kind == EV_ERROR:
            code = data.get("code")
            event.code = code if isinstance(code, int) else 0
            event.msg = _str(data.get("msg")) or ""
            event.action, event.hint = action_for(event.code)
            if event.action != ACT_IGNORE:
                reply.error()
        return event

    def _chat_object(self, event, data):
        chat_id = _str(data.get("id"))
        conversation_id = _str(data.get("conversation_id"))
        if chat_id is None or conversation_id is None:
            self._missing(event.type, event.id, "data.id / data.conversation_id")
        event.chat_id = chat_id
        event.conversation_id = conversation_id
        event.status = _str(data.get("status"))
        reply = self.reply
        reply.conversation_id = conversation_id
        kind = event.kind
        if kind == EV_TURN_STARTED:
            reply.created(chat_id)
        elif kind == EV_TURN_DONE:
            reply.ended(R.DONE)
        elif kind == EV_FAILED:
            reply.ended(R.FAILED)
        if kind == EV_FAILED:
            error = data.get("last_error")
            if isinstance(error, dict):
                event.code = error.get("code")
                event.msg = _str(error.get("msg"))
        elif kind == EV_TOOL_CALL:
            event.tool_calls = self._tool_calls(event, data)

    def _tool_calls(self, event, data):
        try:
            calls = data["required_action"]["submit_tool_outputs"]["tool_calls"]
            out = []
            for call in calls:
                function = call.get("function") or {}
                out.append(ToolCall(call["id"], function.get("name"),
                                    function.get("arguments") or "{}"))
            return out
        except (KeyError, TypeError, AttributeError):
            self._missing(event.type, event.id, "data.required_action.submit_tool_outputs")

    def _message_object(self, event, data):
        content = _str(data.get("content"))
        role = _str(data.get("role"))
        if content is None or role is None:
            self._missing(event.type, event.id, "data.content / data.role")
        event.text = content
        event.role = role
        event.msg_type = _str(data.get("type"))
        event.chat_id = _str(data.get("chat_id"))
        event.conversation_id = _str(data.get("conversation_id"))
