# What every cloud session shares: event kinds, the Event record, unique ids, and feed().
#
# A session is sans-IO: it never touches a socket. The app connects to url() with headers(token),
# sends the strings the session's methods return, and passes each received message to feed(),
# which returns one event. The interface (implemented by CozeChat, CozeTranscriptions,
# CozeSpeech, QwenOmni):
#   url(), headers(token)
#   on_open()                         -> tuple of messages to send once connected (may be empty);
#                                        a new connection: the reply lifecycle starts afresh
#   session_update()                  -> str, the whole config message: send it on EV_CREATED,
#                                        and again (same session) after a reconfiguration
#   begin_turn(), end_turn(), cancel(), send_text(text)   -> tuple of messages
#   clear_input(), new_conversation(), generate_audio(text),
#   submit_tool_outputs(chat_id, outputs)                 -> str (or Unsupported)
#   audio_frame(pcm, nbytes)          -> [buf, payload_len] for ws.send_inplace (no allocation)
#   begin(), feed_part(buf, i, n, sink) -> index reached, end() -> Event or AudioEvent
#                                     the device's path: one message in parts as the socket
#                                     delivers them, never held whole (cloud/jscan.py); the audio
#                                     field streams to the sink (it may stop the walk when full)
#   feed(payload)                     -> the same for a whole message (tests, host tools); an
#                                     AudioEvent then reads its base64 from the payload
# Every message is walked into a bounded shrunk copy (long strings shortened, the audio left
# out): non-audio events are json.loads of that copy; audio deltas take a fast path with no
# json.loads at all (cloud/delta.py). The AudioEvent object is reused.
# session.reply (cloud/reply.py) owns the reply lifecycle: feed() moves it, cancel() asks it, and
# the app asks it rather than keeping flags of its own.
# A subclass declares what its fast path needs by name: AUDIO maps an event type to the key of
# its base64 and of its stream id (keys of EXTRA_KEYS or INNER); the scanner slots are derived
# from those names (audio_slots), and a name the scanner does not collect is refused when the
# class is first used. FRAME_PREFIX holds ID_WIDTH dots where the message id goes.
import json

from cloud import jscan
from cloud.delta import AudioEvent
from cloud.errors import ConfigError, ProtocolError, Unsupported
from cloud.frame import HEADER_ROOM, ID_WIDTH, AppendFrame, id_text  # HEADER_ROOM == websock's
from cloud.reply import Reply

EV_IGNORED = 0  # known or unknown event the app need not act on
EV_CREATED = 1  # connection accepted (chat.created, session.created, ...): send session_update()
EV_READY = 2  # configuration accepted (chat.updated, session.updated, ...)
EV_AUDIO = 3  # audio to play: event.read_audio(dst)
EV_AUDIO_DONE = 4  # the bot's audio for this reply is complete (event.final: and so is the
#                   reply, which had no chat around it, e.g. input_text.generate_audio)
EV_SPEECH_STARTED = 5  # server VAD heard the user start: stop playback (barge-in)
EV_SPEECH_STOPPED = 6  # server VAD heard the user stop
EV_TURN_STARTED = 7  # the bot started a reply (conversation.chat.created, response.created)
EV_PROGRESS = 8  # the reply is being processed
EV_TEXT = 9  # a piece of the bot's reply text (event.text)
EV_SENTENCE = 10  # subtitle of the sentence about to be spoken (event.text)
EV_MESSAGE_DONE = 11  # a whole message (event.text, event.msg_type)
EV_TRANSCRIPT = 12  # what the user said so far (event.text; event.final on the last one)
EV_TURN_DONE = 13  # the reply (or dictation) is complete
EV_CANCELED = 14  # the reply was interrupted: stop playback, clear the player
EV_FAILED = 15  # the reply failed (event.code, event.msg)
EV_TOOL_CALL = 16  # the bot asks the device to run tools (event.tool_calls, event.chat_id)
EV_INPUT_DONE = 17  # the server took the committed input
EV_CLEARED = 18  # input buffer or conversation cleared
EV_ERROR = 19  # the cloud reported an error (event.code, event.msg, event.action, event.hint)

KIND_NAMES = ("ignored", "created", "ready", "audio", "audio_done", "speech_started",
              "speech_stopped", "turn_started", "progress", "text", "sentence", "message_done",
              "transcript", "turn_done", "canceled", "failed", "tool_call", "input_done",
              "cleared", "error")

_MAX_UNKNOWN = 32  # distinct unknown event types remembered for log-once
# The shrunk copy of one message (cloud/jscan.py): strings past TEXT_CAP bytes are shortened and
# the audio is left out, so a config echo or a tool call fits; a 64 KB answer text is kept to
# its first TEXT_CAP bytes (for the log). A message that still does not fit is refused whole.
EVENT_BYTES = 4096
TEXT_CAP = 1024


class Event:
    # Class-level defaults keep each instance down to the fields it sets.
    id = None
    text = None
    code = None
    msg = None
    chat_id = None
    conversation_id = None
    role = None
    msg_type = None
    status = None
    final = False
    tool_calls = None
    action = None
    hint = None
    logid = None
    param = None  # the request field an error names, where the cloud says (Qwen's error.param)
    data = None

    def __init__(self, kind, type_, event_id=None):
        self.kind = kind
        self.type = type_
        self.id = event_id

    def __repr__(self):
        return "<Event %s %s id=%s>" % (KIND_NAMES[self.kind], self.type, self.id)


class ToolCall:
    def __init__(self, call_id, name, arguments):
        self.id = call_id
        self.name = name
        self.arguments = arguments  # the JSON text the bot sent

    def __repr__(self):
        return "<ToolCall %s %s>" % (self.name, self.id)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


_SLOTS = {}  # class -> {audio type: (slot of the base64, slot of the stream id or -1)}


def audio_slots(cls):
    """The scanner slots of cls.AUDIO's named fields (derived once per class, checked)."""
    slots = _SLOTS.get(cls)
    if slots is None:
        keys = (cls.TYPE_KEY, cls.ID_KEY) + cls.EXTRA_KEYS + cls.INNER
        slots = {}
        for audio_type, names in cls.AUDIO.items():
            found = []
            for name in names:
                if name is None:
                    found.append(-1)
                elif keys.count(name) != 1:
                    raise ValueError("%s: %s field %r must be one scanner key of %r"
                                     % (cls.NAME, audio_type, name, keys))
                else:
                    found.append(keys.index(name))
            slots[audio_type] = tuple(found)
        _SLOTS[cls] = slots
    return slots


def _seed():
    # A random start keeps ids of consecutive connections apart (no os.urandom on every port).
    try:
        import random

        return random.getrandbits(24)
    except (ImportError, AttributeError):
        import time

        return time.ticks_us() & 0xFFFFFF


class Session:
    NAME = "cloud"
    TYPE_KEY = b"event_type"
    ID_KEY = b"id"
    PARENT = None  # name of the object holding the audio fields, or None for top level
    INNER = ()  # keys wanted inside PARENT
    AUDIO = {}  # event type -> (key of the base64, key of the stream id or None)
    KNOWN_IGNORED = ()
    LIVE = ()  # settings reconfigure() may change on a live session
    logid = None  # the cloud's trace id of this connection, where it sends one (Coze)
    # What the downlink audio is (instances may set their own): the player decodes and
    # resamples from it, whatever the device's speaker runs at.
    out_codec = "pcm"
    out_rate = 24000

    def __init__(self, settings, log=None):
        self.settings = settings
        self._log = log or print
        self._seq = _seed()
        self._unknown = []
        keys = (self.TYPE_KEY, self.ID_KEY) + self.EXTRA_KEYS
        self._slots = audio_slots(type(self))
        data_slots = []
        for data_slot, _ in self._slots.values():
            data_slots.append(data_slot)
        self._filter = jscan.Filter(keys, self.PARENT, self.INNER, data_slots, EVENT_BYTES,
                                    TEXT_CAP)
        self._audio = AudioEvent()
        self._spans = _SpanSink(self)
        self._payload = None  # the whole message feed() walks; None while streaming
        self._frame = AppendFrame(self.FRAME_PREFIX, self.FRAME_SUFFIX, self.max_frame_bytes())
        self.reply = Reply()

    EXTRA_KEYS = ()

    # ids -----------------------------------------------------------------------------------
    def _bump(self):
        self._seq = (self._seq + 1) & 0xFFFFFF
        return self._seq

    def next_id(self):
        """A fresh message id (ID_WIDTH characters, unique within ~16.7 M messages)."""
        return id_text(self._bump())

    # uplink audio --------------------------------------------------------------------------
    def max_frame_bytes(self):
        return 1920  # subclasses size it from the settings

    def audio_frame(self, pcm, nbytes):
        """Build the append message for pcm[:nbytes] in the preallocated frame buffer.

        Returns a reused 2-item list [buf, payload_len]: the payload sits at
        buf[HEADER_ROOM:HEADER_ROOM + payload_len], ready for ws.send_inplace(buf, n, OP_TEXT).
        The whole payload is rewritten on each call (send_inplace masks it in place).
        """
        return self._frame.build(pcm, nbytes, self._bump())

    # downlink ------------------------------------------------------------------------------
    def _span_text(self, slot):
        f = self._filter
        start, end = f.span(slot)
        if start < 0:
            return None
        out = f.out
        try:
            if f.escaped[slot]:
                return json.loads(bytes(out[start - 1:end + 1]))
            return str(out[start:end], "utf-8")
        except (ValueError, UnicodeError):
            # MicroPython's UnicodeError is no ValueError: without this a binary frame with bad
            # UTF-8 in an id would escape feed() as something other than ProtocolError.
            raise ProtocolError("%s: a string field is not valid UTF-8 or JSON" % self.NAME) \
                from None

    def _known_id(self):
        # The event id, if the walk got that far: for error messages only.
        try:
            return self._span_text(1)
        except (ValueError, UnicodeError):
            return None

    def audio_type_now(self):
        """Is the message being walked an audio delta? True / False, or None while its type
        has not come yet (or is escaped: the slow path decides at the end)."""
        f = self._filter
        start, end = f.span(0)
        if start < 0 or f.escaped[0]:
            return None
        for audio_type in self.AUDIO:
            if jscan.equals(f.out, start, end, audio_type):
                return True
        return False

    def stream_id_now(self):
        """The stream id (reply id) of the audio delta being walked, if it came already."""
        f = self._filter
        start, end = f.span(0)
        if start >= 0:
            for audio_type in self.AUDIO:
                if jscan.equals(f.out, start, end, audio_type):
                    slot = self._slots[audio_type][1]
                    return self._span_text(slot) if slot >= 0 else None
        return None

    def stale_now(self):
        """Is the audio being walked stale, as far as the message has shown: by its stream id
        if that came already, else as the current reply's."""
        return self.reply.dropped and self.reply.stale(self.stream_id_now())

    def begin(self):
        """A new downlink message begins (the streaming path)."""
        self._filter.begin()

    def feed_part(self, buf, i, n, sink):
        """Walk buf[i:n] of the message; returns the index reached (< n: the sink is full,
        call again from there once it has room). Raises ProtocolError."""
        try:
            return self._filter.feed(buf, i, n, sink)
        except jscan.ScanError as exc:
            raise self._malformed(exc) from None

    def end(self):
        """The message is complete: its event. An AudioEvent's audio went to the sink."""
        f = self._filter
        try:
            n = f.end()
        except jscan.ScanError as exc:
            raise self._malformed(exc) from None
        start, end = f.span(0)
        if start >= 0 and not f.escaped[0]:
            for audio_type in self.AUDIO:
                if jscan.equals(f.out, start, end, audio_type):
                    data_slot, stream_slot = self._slots[audio_type]
                    stream = self._span_text(stream_slot) if stream_slot >= 0 else None
                    return self._audio_event(audio_type.decode(), self._span_text(1), stream)
        return self._slow(memoryview(f.out)[:n])

    def _malformed(self, exc):
        event_id = self._known_id()
        return ProtocolError("%s: malformed message %s: %s" % (self.NAME, event_id, exc),
                             event_id)

    def feed(self, payload):
        """Parse one whole downlink message; returns an event. Raises ProtocolError."""
        if isinstance(payload, str):
            payload = payload.encode()
        self._payload = payload
        self._spans.reset(payload)
        try:
            self.begin()
            self.feed_part(payload, 0, len(payload), self._spans)
            return self.end()
        finally:
            self._payload = None

    def _audio_event(self, type_, event_id, stream):
        event = self._audio
        stale = self.reply.stale(stream)
        payload = self._payload
        if payload is None:  # streamed: the sink has the audio
            event.header(type_, event_id, stream, stale)
            return event
        spans = self._spans
        if spans.first < 0:
            raise ProtocolError("%s %s: no audio field" % (type_, event_id), event_id, type_)
        src, start, end = payload, spans.first, spans.last
        if spans.escaped:
            # JSON escapes (e.g. "\/") in base64: rare, so decode the string the slow way.
            try:
                src = json.loads(bytes(payload[start - 1:end + 1])).encode()
            except ValueError:
                raise ProtocolError("%s %s: the audio field is not a JSON string"
                                    % (type_, event_id), event_id, type_) from None
            start, end = 0, len(src)
        event.reset(type_, event_id, stream, src, start, end, stale)
        return event

    def _slow_audio(self, type_, event_id, stream):
        # An audio delta that missed the fast path (e.g. escaped characters in its type).
        return self._audio_event(type_, event_id, stream)

    def _slow(self, payload):
        try:
            msg = json.loads(payload if isinstance(payload, (bytes, bytearray)) else
                             (payload if _JSON_TAKES_BUFFERS else bytes(payload)))
        except ValueError as exc:
            event_id = self._known_id()
            raise ProtocolError("%s: message %s is not valid JSON (%s)"
                                % (self.NAME, event_id, exc), event_id) from None
        if not isinstance(msg, dict):
            raise ProtocolError("%s: message is not a JSON object" % self.NAME)
        type_ = msg.get(self.TYPE_KEY.decode())
        event_id = msg.get(self.ID_KEY.decode())
        if not isinstance(type_, str):
            raise ProtocolError("%s: message %s has no %s" % (self.NAME, event_id,
                                                              self.TYPE_KEY.decode()), event_id)
        event = self._parse(type_, event_id, msg)
        if event is None:
            return self._unknown_event(type_, event_id)
        return event

    def _unknown_event(self, type_, event_id):
        if type_ not in self.KNOWN_IGNORED and type_ not in self._unknown:
            if len(self._unknown) < _MAX_UNKNOWN:
                self._unknown.append(type_)
            self._log("%s: ignoring unknown event type %s (id %s)" % (self.NAME, type_, event_id))
        return Event(EV_IGNORED, type_, event_id)

    def _missing(self, type_, event_id, field):
        raise ProtocolError("%s %s: missing or invalid %s" % (type_, event_id, field),
                            event_id, type_)

    def _parse(self, type_, event_id, msg):
        raise NotImplementedError

    # reconfiguration -----------------------------------------------------------------------
    def _configure(self, settings):
        # Validate settings whole and take them (ConfigError changes nothing); subclasses.
        self._unsupported("reconfiguration")

    def reconfigure(self, changes):
        """Change LIVE settings of the live session, checked as at start-up (a ConfigError
        changes nothing). Returns the old values (reconfigure(them) undoes it); send
        session_update() next: the whole config, so nothing depends on what the cloud kept."""
        for key in changes:
            if key not in self.LIVE:
                raise ConfigError(key, "cannot change on a live session (only %s)"
                                  % ", ".join(self.LIVE))
        merged = dict(self.settings)
        merged.update(changes)
        self._configure(merged)
        old = {}
        for key in changes:
            old[key] = self.settings.get(key)
        self.settings = merged
        return old

    def set_mode(self, mode):
        return self.reconfigure({"mode": mode})

    # interface defaults ---------------------------------------------------------------------
    def on_open(self):
        self.reply.reset()
        return ()

    def _unsupported(self, what):
        raise Unsupported("%s does not support %s" % (self.NAME, what))

    def begin_turn(self):
        return ()

    def end_turn(self):
        return ()

    def cancel(self):
        """Stop the reply: its audio is stale from here; the cancel message only if one runs."""
        if self.reply.cancel():
            return (self._cancel_message(),)
        return ()

    def _cancel_message(self):
        return self._unsupported("cancelling a reply")

    def send_text(self, text):
        self._unsupported("text input")

    def clear_input(self):
        self._unsupported("clearing the input")

    def new_conversation(self):
        self._unsupported("a new conversation")

    def generate_audio(self, text):
        self._unsupported("speaking a given text")

    def submit_tool_outputs(self, chat_id, outputs):
        self._unsupported("device-side tools")


class _SpanSink:
    # feed()'s sink: a whole message keeps its audio in the payload, so only where it lies is
    # noted (first..last), and whether escapes broke it into pieces.
    def __init__(self, session):
        self._session = session
        self.reset(None)

    def reset(self, payload):
        self.payload = payload
        self.first = self.last = -1
        self.escaped = False

    def start(self):
        known = self._session.audio_type_now()
        if known is False:
            return jscan.COPY
        self.reset(self.payload)
        return jscan.AUDIO if known else jscan.BOTH

    def take(self, buf, a, b):
        if buf is not self.payload:
            self.escaped = True  # an escape's replacement byte
        else:
            if self.first < 0:
                self.first = a
            self.last = b
        return b

    def invalid(self):
        self.escaped = True

    def end(self):
        pass


def _json_takes_buffers():
    try:
        json.loads(memoryview(b"1"))
        return True
    except TypeError:
        return False


# MicroPython's json.loads reads any buffer; CPython's needs bytes.
_JSON_TAKES_BUFFERS = _json_takes_buffers()
__all__ = ("Session", "Event", "ToolCall", "HEADER_ROOM", "KIND_NAMES", "ID_WIDTH")
