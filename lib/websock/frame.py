# RFC 6455 framing without I/O: the client header writer, a frame builder and an incremental
# decoder that reads straight into buffers it owns.
#
# The decoder lends buffers instead of taking bytes: target() is the memoryview the next bytes
# belong in (header bytes, a control payload, or the message buffer at the current offset) and
# advance(n) says n of them arrived there. The stream layer readinto()s that view directly, so a
# 20 KB message is read once into its final place and never copied; feed() is the same walk for
# callers that already hold bytes (tests, fuzzing). Nothing here allocates after __init__ except
# the memoryview slice target() returns and the close reason string.
from micropython import const

from websock import kernels
from websock.errors import MessageTooBig, ProtocolError

CONT = const(0)
TEXT = const(1)
BINARY = const(2)
CLOSE = const(8)
PING = const(9)
PONG = const(10)
# Room a caller reserves in front of a send_inplace payload: 2 + 8 (64-bit length) + 4 (key).
HEADER_ROOM = const(14)
_MAX_CONTROL = const(125)

_HEAD = const(0)  # reading the first two header bytes
_EXT = const(1)  # reading the 2- or 8-byte extended length
_BODY = const(2)  # reading payload


def header_size(n, masked=True):
    size = 2 if n < 126 else (4 if n < 65536 else 10)
    return size + 4 if masked else size


def write_header(buf, end, first, n, masked=True):
    """Write a frame header for an n-byte payload so that it ends at buf[end]; returns its start.
    `first` is FIN|opcode. When masked, the last 4 header bytes are the key slot, left as is."""
    start = end - header_size(n, masked)
    mbit = 0x80 if masked else 0
    buf[start] = first
    if n < 126:
        buf[start + 1] = mbit | n
    elif n < 65536:
        buf[start + 1] = mbit | 126
        buf[start + 2] = n >> 8
        buf[start + 3] = n & 0xFF
    else:
        buf[start + 1] = mbit | 127
        # n < 2**30 here (it lives in RAM), so the top four length bytes are zero.
        for i in range(2, 6):
            buf[start + i] = 0
        buf[start + 6] = (n >> 24) & 0xFF
        buf[start + 7] = (n >> 16) & 0xFF
        buf[start + 8] = (n >> 8) & 0xFF
        buf[start + 9] = n & 0xFF
    return start


def encode(opcode, payload, key=None, fin=True):
    """A whole frame as a new bytearray (allocates; for control-rate messages and tests).
    key: 4 bytes to mask with (client frames), or None for an unmasked (server) frame."""
    n = len(payload)
    h = header_size(n, key is not None)
    out = bytearray(h + n)
    write_header(out, h, (0x80 if fin else 0) | opcode, n, key is not None)
    out[h:] = payload
    if key is not None:
        out[h - 4 : h] = key
        kernels.mask(out, h, n, out, h - 4)
    return out


def _valid_close_code(code):
    # RFC 6455 7.4 plus the IANA registry: 1004-1006 and 1015 never go on the wire.
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class Decoder:
    def __init__(self, max_message):
        self.max_message = max_message
        self.buf = bytearray(max_message)
        self._mv = memoryview(self.buf)
        self._hdr = bytearray(10)
        self._ctl = bytearray(_MAX_CONTROL)
        self.opcode = 0  # of the last event
        self.size = 0  # message bytes in buf (valid after a TEXT/BINARY event)
        self.close_code = None
        self.close_reason = ""
        self._msg_op = 0  # opcode of the message being reassembled, 0 if none
        self._reset_head()

    def _reset_head(self):
        self._state = _HEAD
        self._tmv = memoryview(self._hdr)
        self._at = 0
        self._end = 2

    def mid_frame(self):
        """True when some bytes of a frame (or of a fragmented message) have arrived."""
        return self._at > 0 or self._state != _HEAD or self._msg_op != 0

    def target(self):
        return self._tmv[self._at : self._end]

    def advance(self, n):
        """n bytes landed in target(). Returns an event opcode (TEXT/BINARY: whole message in
        message(); PING/PONG: payload in control(); CLOSE: close_code/close_reason) or None."""
        self._at += n
        if self._at < self._end:
            return None
        if self._state == _HEAD:
            return self._head()
        if self._state == _EXT:
            return self._ext()
        return self._frame_done()

    def message(self):
        return self._mv[: self.size]

    def control(self):
        return memoryview(self._ctl)[: self._len]

    def feed(self, data, on_event):
        """Push bytes through target()/advance(); on_event(opcode) runs for each event."""
        src = memoryview(data)
        i = 0
        while i < len(src):
            dst = self.target()
            k = min(len(dst), len(src) - i)
            dst[:k] = src[i : i + k]
            i += k
            ev = self.advance(k)
            if ev is not None:
                on_event(ev)

    def _head(self):
        b0 = self._hdr[0]
        b1 = self._hdr[1]
        if b0 & 0x70:
            raise ProtocolError("reserved bits set (no extension was negotiated)")
        if b1 & 0x80:
            raise ProtocolError("the server masked a frame")
        op = b0 & 0x0F
        self._op = op
        self._fin = b0 & 0x80
        n = b1 & 0x7F
        if op >= CLOSE:
            if op > PONG:
                raise ProtocolError("unknown control opcode %d" % op)
            if not self._fin or n > _MAX_CONTROL:
                raise ProtocolError("control frame fragmented or over 125 bytes")
        elif op > BINARY:
            raise ProtocolError("unknown data opcode %d" % op)
        elif op == CONT and not self._msg_op:
            raise ProtocolError("continuation frame without a message to continue")
        elif op != CONT and self._msg_op:
            raise ProtocolError("new message inside a fragmented one")
        if n >= 126:
            self._state = _EXT
            self._at = 2
            self._end = 4 if n == 126 else 10
            return None
        return self._body(n)

    def _ext(self):
        h = self._hdr
        if self._end == 4:
            n = (h[2] << 8) | h[3]
        else:
            if h[2] & 0x80:
                raise ProtocolError("64-bit payload length with the top bit set")
            if h[2] | h[3] | h[4] | h[5] or h[6] & 0xC0:
                # >= 2**30: more than any device holds; refuse before it becomes a long int.
                raise MessageTooBig(1 << 30, self.max_message)
            n = (h[6] << 24) | (h[7] << 16) | (h[8] << 8) | h[9]
        return self._body(n)

    def _body(self, n):
        self._len = n
        self._state = _BODY
        if self._op >= CLOSE:
            self._tmv = memoryview(self._ctl)
            self._at = 0
        else:
            if not self._msg_op:
                self.size = 0  # a new message: the previous one's bytes may go now
            if self.size + n > self.max_message:
                raise MessageTooBig(self.size + n, self.max_message)
            self._tmv = self._mv
            self._at = self.size
        self._end = self._at + n
        if n == 0:
            return self._frame_done()
        return None

    def _frame_done(self):
        op = self._op
        n = self._len
        self._reset_head()
        if op >= CLOSE:
            self.opcode = op
            if op == CLOSE:
                self._parse_close(n)
            return op
        if op != CONT:
            self._msg_op = op
        self.size += n
        if not self._fin:
            return None
        op = self._msg_op
        self._msg_op = 0
        if op == TEXT:
            bad = kernels.utf8_error(self.buf, 0, self.size)
            if bad >= 0:
                raise ProtocolError("text message is not UTF-8 (byte %d)" % bad, 1007)
        self.opcode = op
        return op

    def _parse_close(self, n):
        c = self._ctl
        if n == 0:
            self.close_code = 1005  # "no status received"
            self.close_reason = ""
            return
        if n == 1:
            raise ProtocolError("close frame with a 1-byte payload")
        code = (c[0] << 8) | c[1]
        if not _valid_close_code(code):
            raise ProtocolError("close code %d is not allowed on the wire" % code)
        if kernels.utf8_error(c, 2, n - 2) >= 0:
            raise ProtocolError("close reason is not UTF-8", 1007)
        self.close_code = code
        self.close_reason = str(bytes(c[2:n]), "utf-8")
