# Qwen-Omni realtime (DashScope, wss://dashscope.aliyuncs.com/api-ws/v1/realtime): the second
# cloud. OpenAI-Realtime-style envelope {"event_id", "type", ...} (protocol.md section 3).
#
# Push-to-talk: turn_detection null; end_turn() = input_audio_buffer.commit + response.create.
# Free talk: server VAD (silence_duration_ms 200..6000, vad_threshold -1..1) ends turns itself.
# Barge-in: cancel() = response.cancel, only while a response runs: the server answers a cancel
# with nothing to stop with an error (the seed), and one that crossed response.done on the wire
# is recognised and ignored (reply.cancel_answered). Audio: in 16 kHz PCM16 mono, out 24 kHz
# PCM16 mono ("pcm24", the only output the service takes: out_rate is 24000 whatever the
# device's speaker runs at). EV_AUDIO takes the fast path on response.audio.delta's "delta".
# Settings: api_key goes to headers(), never here; base_url, model, mode ptt|free, voice,
# instructions, modalities, silence_duration_ms, vad_threshold, smooth_output, in_frame_ms,
# codec_in (pcm only), in_rate (16000 only).
from cloud import reply as R
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
from cloud.errors import ACT_FATAL, ACT_FIX, ACT_IGNORE, ACT_RETRY, ConfigError
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
    EXTRA_KEYS = (b"delta", b"response_id")
    AUDIO = {b"response.audio.delta": (b"delta", b"response_id")}
    FRAME_PREFIX = b'{"event_id":"ev_....","type":"input_audio_buffer.append","audio":"'
    FRAME_SUFFIX = b'"}'
    LIVE = ("mode", "voice", "instructions", "silence_duration_ms", "vad_threshold",
            "smooth_output")
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
        s = self._configure(settings)
        self.base_url = s.base_url("base_url", _DEFAULT_BASE)
        self.model = s.text("model", _DEFAULT_MODEL)
        s.choice("codec_in", ("pcm",), "pcm")  # the service takes PCM16 only
        s.choice("in_rate", (16000,), 16000)
        frame_ms = s.integer("in_frame_ms", 20, 10, 60)
        self._max_frame = 32 * frame_ms + 4  # 2 samples of slack for a resampled frame
        super().__init__(settings, log)

    def _configure(self, settings):
        s = Settings(settings, KNOWN)
        mode = s.choice("mode", ("ptt", "free"), "ptt")
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
        if mode == "free":
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
        self.mode, self.config = mode, session  # only once all of it is valid
        return s

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
        if self.mode == "ptt":
            return self.cancel()  # nothing when no response runs (the last one may drain)
        return ()

    def end_turn(self):
        if self.mode == "ptt":
            self.reply.asked()
            return (self.message("input_audio_buffer.commit"), self.message("response.create"))
        return ()

    def _cancel_message(self):
        return self.message("response.cancel")

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
            return self._slow_audio(type_, event_id, _str(msg.get("response_id")))
        event = Event(kind, type_, event_id)
        event.data = msg
        reply = self.reply
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
            event.chat_id = response["id"]
            reply.created(event.chat_id)
        elif kind == EV_TURN_DONE:
            response = msg.get("response")
            response = response if isinstance(response, dict) else {}
            event.chat_id = _str(response.get("id"))
            event.status = _str(response.get("status"))
            if event.status == "cancelled":
                event.kind = EV_CANCELED
                reply.ended(R.CANCELLED)
            elif event.status == "failed":
                event.kind = EV_FAILED
                reply.ended(R.FAILED)
            else:
                reply.ended(R.DONE)
        elif kind == EV_SPEECH_STARTED:
            reply.drop()  # the server's VAD interrupts the response: what is left of it is old
        elif kind == EV_SPEECH_STOPPED:
            reply.asked()
        elif kind == EV_AUDIO_DONE:
            event.final = reply.audio_done()
        elif kind == EV_ERROR:
            self._error(event, msg.get("error"))
        return event

    def _error(self, event, error):
        error = error if isinstance(error, dict) else {}
        event.code = error.get("code")
        event.msg = _str(error.get("message")) or ""
        event.param = _str(error.get("param"))  # the refused field, e.g. "session.voice"
        kind = error.get("type")
        if kind in ("authentication_error", "permission_error"):
            event.action, event.hint = ACT_FATAL, "the API key was refused; set a valid key"
        elif self.reply.cancel_answered():
            event.action, event.hint = ACT_IGNORE, "nothing to cancel"
        elif kind == "invalid_request_error":
            event.action = ACT_FIX
            event.hint = "a request was refused (%s); check the cloud settings" % (
                event.param or "no field named")
        else:
            event.action, event.hint = ACT_RETRY, "server error; retry later"
        if event.action != ACT_IGNORE:
            self.reply.error()
