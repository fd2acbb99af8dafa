# The audio event of the fast path: the base64 audio stays in the received message and is
# decoded into the caller's buffer in chunks, so a ~16 KB reply never exists as Python objects.
#
#   ev = session.feed(mv)            # ev.kind == EV_AUDIO
#   while True:
#       n = ev.read_audio(dst)       # up to len(dst) // 3 * 3 bytes; 0 when done
#       if not n: break
#       ... player.write(dst[:n]) / await room ...
# ev.audio_len is the total decoded size, known before decoding (for back-pressure decisions);
# ev.stale is True when the audio belongs to a reply the device canceled (drop it). One object
# per session is reused for every delta, and it reads the websocket's receive buffer: drain it
# before the next recv(). A bad base64 byte raises ProtocolError naming the event id.
import b64

from cloud.errors import ProtocolError

EV_AUDIO = 3  # == cloud.base.EV_AUDIO (repeated here to avoid an import cycle)


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

    def reset(self, type_, event_id, stream_id, src, start, end, stale):
        self.type = type_
        self.id = event_id
        self.stream_id = stream_id
        self.chat_id = stream_id
        self.stale = stale
        self._src = src
        self._pos = start
        self._end = end
        self.done = 0
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
            self._src = None  # let the receive buffer go
            return 0
        chars = len(dst) // 3 * 4
        if chars == 0:
            raise ValueError("read_audio needs a buffer of at least 3 bytes")
        stop = pos + chars
        if stop > end:
            stop = end
        src = self._src
        try:
            if stop < end and src[stop - 1] == 61:  # '=' before the end of the string
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
        anywhere raises ProtocolError before any of the audio was handed on, so a caller that
        plays chunk by chunk drops a corrupt delta whole instead of playing half of it."""
        src = self._src
        pos = self._pos
        while self.read_audio(dst):
            pass
        self._src = src
        self._pos = pos
        self.done = 0

    def __repr__(self):
        return "<AudioEvent %s id=%s %d bytes>" % (self.type, self.id, self.audio_len)
