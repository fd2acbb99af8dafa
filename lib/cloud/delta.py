# Audio deltas: the event record of the fast path, and the base64 decoder that turns the audio
# field into PCM as it streams.
#
# Streaming (the device): the parser hands the audio field's characters to a sink as they
# arrive; the sink decodes them with a B64Stream into its own buffer and writes the audio on.
# session.end() then returns the AudioEvent: type, id, stream id, and `stale` (a reply the
# device canceled). Whole messages (tests, host tools): session.feed(payload) returns the same
# AudioEvent with the base64 left in the payload, and read_audio(dst) decodes it in chunks.
# One AudioEvent per session is reused for every delta. A bad base64 byte raises ProtocolError
# naming the event id.
import b64

from cloud.errors import ProtocolError

EV_AUDIO = 3  # == cloud.base.EV_AUDIO (repeated here to avoid an import cycle)
_PAD = 61  # '='


class B64Stream:
    """Base64 in pieces of any length -> bytes. take() decodes whole quads into dst and keeps
    an unfinished quad (1-3 characters) for the next piece; close() checks that none is left.
    Strict like b64.decode_into: '=' ends the data, and a bad byte sets `error`."""

    def __init__(self):
        self._quad = bytearray(4)
        self.reset()

    def reset(self):
        self._k = 0  # characters of an unfinished quad in _quad
        self.ended = False  # a padded quad came: nothing may follow
        self.error = None  # what was wrong, once something was
        self.out = 0  # bytes the last take() wrote
        self.chars = 0  # characters taken in all

    def take(self, src, a, b, dst):
        """Decode src[a:b] into dst (from its start) as far as dst holds; returns the index
        reached (b, or less when dst is full). dst holds at least 3 bytes."""
        self.out = 0
        if self.error is not None:
            return b
        start = a
        j = 0
        quad = self._quad
        if self._k:
            while self._k < 4 and a < b:
                quad[self._k] = src[a]
                self._k += 1
                a += 1
            if self._k < 4:
                self.chars += a - start
                return a
            self._k = 0
            j = self._decode(quad, 0, 4, dst, 0)
            if j < 0:
                return b
        whole = (b - a) & ~3
        room = (len(dst) - j) // 3 * 4
        if whole > room:
            whole = room
        if whole:
            got = self._decode(src, a, a + whole, dst, j)
            if got < 0:
                return b
            j += got
            a += whole
        if b - a < 4:  # the rest starts a quad that the next piece finishes
            while a < b:
                quad[self._k] = src[a]
                self._k += 1
                a += 1
        self.out = j
        self.chars += a - start
        return a

    def _decode(self, src, a, b, dst, off):
        if self.ended:
            self._fail("base64: data after the padding")
            return -1
        try:
            n = b64.decode_into(src, a, b, dst, off)
        except b64.B64Error as exc:
            self._fail(str(exc))
            return -1
        if src[b - 1] == _PAD:
            self.ended = True
        return n

    def _fail(self, what):
        self.error = "%s (character %d of the audio)" % (what, self.chars)

    def close(self):
        """The string ended: an unfinished quad is an error."""
        if self.error is None and self._k:
            self.error = "base64: length is not a multiple of 4"
        return self.error is None


class AudioEvent:
    kind = EV_AUDIO
    text = None
    final = False

    def __init__(self):
        self.type = None
        self.id = None
        self.stream_id = None
        self.chat_id = None
        self.stale = False
        self.audio_len = 0
        self.done = 0
        self._src = None
        self._pos = 0
        self._end = 0

    def header(self, type_, event_id, stream_id, stale):
        self.type = type_
        self.id = event_id
        self.stream_id = stream_id
        self.chat_id = stream_id
        self.stale = stale
        self._src = None
        self._pos = self._end = 0
        self.done = self.audio_len = 0

    def reset(self, type_, event_id, stream_id, src, start, end, stale):
        """A whole message: its base64 is src[start:end]."""
        self.header(type_, event_id, stream_id, stale)
        self._src = src
        self._pos = start
        self._end = end
        try:
            self.audio_len = b64.decoded_len(src, start, end)
        except b64.B64Error as exc:
            self._src = None
            self._end = start
            raise ProtocolError("%s %s: %s" % (type_, event_id, exc), event_id, type_) from None

    @property
    def remaining(self):
        return self.audio_len - self.done

    def read_audio(self, dst):
        """Decode the next chunk into dst (from its start); returns bytes written, 0 at the end."""
        pos = self._pos
        end = self._end
        if pos >= end:
            self._src = None  # let the message go
            return 0
        chars = len(dst) // 3 * 4
        if chars == 0:
            raise ValueError("read_audio needs a buffer of at least 3 bytes")
        stop = pos + chars
        if stop > end:
            stop = end
        src = self._src
        try:
            if stop < end and src[stop - 1] == _PAD:  # '=' before the end of the string
                raise b64.B64Error("base64: padding at offset %d" % (stop - 1), stop - 1)
            n = b64.decode_into(src, pos, stop, dst, 0)
        except b64.B64Error as exc:
            self._pos = end
            raise ProtocolError("%s %s: %s" % (self.type, self.id, exc), self.id,
                                self.type) from None
        self._pos = stop
        self.done += n
        return n

    def verify(self, dst):
        """Decode the whole payload into dst (scratch, overwritten) and rewind: a bad byte
        anywhere raises ProtocolError before any of the audio was handed on."""
        src = self._src
        pos = self._pos
        while self.read_audio(dst):
            pass
        self._src = src
        self._pos = pos
        self.done = 0

    def __repr__(self):
        return "<AudioEvent %s id=%s %d bytes>" % (self.type, self.id, self.audio_len)
