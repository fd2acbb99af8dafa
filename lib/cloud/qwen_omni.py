# Qwen-Omni realtime (DashScope, wss://dashscope.aliyuncs.com/api-ws/v1/realtime): the second
# cloud. OpenAI-Realtime-style envelope {"event_id", "type", ...} (protocol.md section 3).
#
# Push-to-talk: turn_detection null; end_turn() = input_audio_buffer.commit + response.create.
# Free talk: server VAD (silence_duration_ms 200..6000, vad_threshold -1..1) ends turns itself.
# Barge-in: cancel() = response.cancel. Audio: in 16 kHz PCM16 mono, out 24 kHz PCM16 mono
# ("pcm24"). EV_AUDIO takes the fast path on response.audio.delta's top-level "delta".
# Settings: api_key goes to headers(), never here; base_url, model, mode ptt|free, voice,
# instructions, modalities, silence_duration_ms, vad_threshold, smooth_output, in_frame_ms,
# codec_in (pcm only), in_rate (16000 only).
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
    EV_READY,
    EV_SPEECH_STARTED,
    EV_SPEECH_STOPPED,
    EV_TEXT,
    EV_TRANSCRIPT,
    EV_TURN_DONE,
    EV_TURN_STARTED,
    Event,
    Session,
    dumps,
)
from cloud.errors import ACT_FATAL, ACT_RETRY, ConfigError
from cloud.settings import Settings, bearer

KNOWN = ("base_url", "model", "mode", "voice", "instructions", "modalities",
         "silence_duration_ms", "vad_threshold", "smooth_output", "in_frame_ms", "codec_in",
         "in_rate")
_DEFAULT_BASE = "wss://dashscope.aliyuncs.com/api-ws/v1/realtime"
_DEFAULT_MODEL = "qwen3-omni-flash-realtime"


def _str(value):
    return value if isinstance(value, str) else None


class QwenOmni(Session):
    NAME = "qwen-omni"
    TYPE_KEY = b"type"
    ID_KEY = b"event_id"
    # scanner slots: 0 type, 1 event_id, 2 delta, 3 response_id
    EXTRA_KEYS = (b"delta", b"response_id")
    AUDIO = {b"response.audio.delta": (2, 3)}
    FRAME_PREFIX = b'{"event_id":"ev_....","type":"input_audio_buffer.append","audio":"'
    FRAME_ID_AT = 16
    FRAME_SUFFIX = b'"}'
    KINDS = {
        "session.created": EV_CREATED,
        "session.updated": EV_READY,
        "input_audio_buffer.speech_started": EV_SPEECH_STARTED,
        "input_audio_buffer.speech_stopped": EV_SPEECH_STOPPED,
        "input_audio_buffer.committed": EV_INPUT_DONE,
        "input_audio_buffer.cleared": EV_CLEARED,
        "response.created": EV_TURN_STARTED,
        "response.audio.delta": EV_AUDIO,
        "response.audio.done": EV_AUDIO_DONE,
        "response.audio_transcript.delta": EV_TEXT,
        "response.text.delta": EV_TEXT,
        "response.audio_transcript.done": EV_MESSAGE_DONE,
        "response.text.done": EV_MESSAGE_DONE,
        "conversation.item.input_audio_transcription.completed": EV_TRANSCRIPT,
        "response.done": EV_TURN_DONE,
        "error": EV_ERROR,
    }
    # Structure events the app has no use for: not logged as unknown.
    KNOWN_IGNORED = ("conversation.item.created", "response.output_item.added",
                     "response.output_item.done", "response.content_part.added",
                     "response.content_part.done")

    def __init__(self, settings, log=None):
        s = Settings(settings, KNOWN)
        self.base_url = s.base_url("base_url", _DEFAULT_BASE)
        self.model = s.text("model", _DEFAULT_MODEL)
        self.mode = s.choice("mode", ("ptt", "free"), "ptt")
        s.choice("codec_in", ("pcm",), "pcm")  # the service takes PCM16 only
        s.choice("in_rate", (16000,), 16000)
        frame_ms = s.integer("in_frame_ms", 20, 10, 60)
        self._max_frame = 32 * frame_ms + 4  # 2 samples of slack for a resampled frame
        session = {
            "modalities": s.strings("modalities") or ["text", "audio"],
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm24",
        }
        for key in ("voice", "instructions"):
            value = s.text(key)
            if value is not None:
                session[key] = value
        smooth = s.boolean("smooth_output")
        if smooth is not None:
            session["smooth_output"] = smooth
        silence = s.integer("silence_duration_ms", None, 200, 6000)
        threshold = s.number("vad_threshold", None, -1, 1)
        if self.mode == "free":
            vad = {"type": "server_vad"}
            if threshold is not None:
                vad["threshold"] = threshold
            if silence is not None:
                vad["silence_duration_ms"] = silence
            session["turn_detection"] = vad
        else:
            session["turn_detection"] = None  # manual turns: commit + response.create
        modalities = session["modalities"]
        if "text" not in modalities or not all(m in ("text", "audio") for m in modalities):
            raise ConfigError("modalities", 'must be ["text"] or ["text", "audio"]')
        self.config = session
        self.response_id = None
        super().__init__(settings, log)

    def max_frame_bytes(self):
        return self._max_frame

    def url(self):
        sep = "&" if "?" in self.base_url else "?"
        return self.base_url + sep + "model=" + self.model

    def headers(self, token):
        return bearer(token)

    def next_id(self):
        return "ev_" + super().next_id()

    def message(self, type_, fields=None):
        msg = {"event_id": self.next_id(), "type": type_}
        if fields:
            msg.update(fields)
        return dumps(msg)

    # the interface -------------------------------------------------------------------------
    def session_update(self):
        return self.message("session.update", {"session": self.config})

    def begin_turn(self):
        if self.mode == "ptt" and self.responding:
            return self.cancel()
        return ()

    def end_turn(self):
        if self.mode == "ptt":
            return (self.message("input_audio_buffer.commit"), self.message("response.create"))
        return ()

    def cancel(self):
        # The reply is over for the device from here: its late audio is stale, and begin_turn()
        # must not send a second cancel for it.
        self.stale_id = self.stream_id
        self.responding = False
        return (self.message("response.cancel"),)

    def clear_input(self):
        return self.message("input_audio_buffer.clear")

    # downlink ------------------------------------------------------------------------------
    def _parse(self, type_, event_id, msg):
        kind = self.KINDS.get(type_)
        if kind is None:
            return None
        if kind == EV_AUDIO:
            delta = _str(msg.get("delta"))
            if delta is None:
                self._missing(type_, event_id, "delta")
            stream = _str(msg.get("response_id"))
            src = delta.encode()
            self._audio.reset(type_, event_id, stream, src, 0, len(src),
                              stream is not None and stream == self.stale_id)
            return self._audio
        event = Event(kind, type_, event_id)
        event.data = msg
        if kind in (EV_TEXT, EV_MESSAGE_DONE):
            text = msg.get("delta") if kind == EV_TEXT else msg.get("transcript", msg.get("text"))
            event.text = _str(text)
            if event.text is None:
                self._missing(type_, event_id, "delta / transcript")
            event.chat_id = _str(msg.get("response_id"))
        elif kind == EV_TRANSCRIPT:
            event.text = _str(msg.get("transcript"))
            if event.text is None:
                self._missing(type_, event_id, "transcript")
            event.final = True
        elif kind == EV_TURN_STARTED:
            response = msg.get("response")
            if not isinstance(response, dict) or not isinstance(response.get("id"), str):
                self._missing(type_, event_id, "response.id")
            self.stream_id = event.chat_id = response["id"]
            self.responding = True
        elif kind == EV_TURN_DONE:
            response = msg.get("response")
            response = response if isinstance(response, dict) else {}
            event.chat_id = _str(response.get("id"))
            event.status = _str(response.get("status"))
            self.responding = False
            if event.status == "cancelled":
                event.kind = EV_CANCELED
            elif event.status == "failed":
                event.kind = EV_FAILED
        elif kind == EV_ERROR:
            error = msg.get("error")
            error = error if isinstance(error, dict) else {}
            event.code = error.get("code")
            event.msg = _str(error.get("message")) or ""
            if error.get("type") in ("authentication_error", "permission_error"):
                event.action, event.hint = ACT_FATAL, "the API key was refused; set a valid key"
            else:
                event.action, event.hint = ACT_RETRY, "server error; retry later"
        return event
