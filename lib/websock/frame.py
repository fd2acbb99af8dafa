# RFC 6455 framing without I/O: the client header writer, a frame builder and an incremental
# decoder that reads straight into buffers it owns.
#
# The decoder lends buffers instead of taking bytes: target() is the memoryview the next bytes
# belong in (header bytes, a control payload, or the part buffer) and advance(n) says n of them
# arrived there. A message is never held whole: its payload comes out in parts of at most
# `part_size` bytes as TCP delivers them, so a 1 MB audio delta costs the same memory as a 1 KB
# one, and a caller that stops asking for parts stops the socket being read (TCP back-pressure).
# A text message is checked for UTF-8 across part and fragment boundaries: a part ends before a
# code point that has not fully arrived (its 1-3 bytes start the next part). feed() is the same
# walk for callers that already hold bytes (tests, fuzzing). Nothing here allocates after
# __init__ except the memoryview slice target() returns and the close reason string.
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
_MAX_FRAME = const(0x3FFFFFFF)  # a frame length beyond this would be a long int

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


def utf8_tail(buf, n):
    """Bytes at the end of buf[:n] that begin a UTF-8 sequence still missing bytes (0-3)."""
    back = 1
    while back <= 3 and back <= n:
        c = buf[n - back]
        if c & 0xC0 != 0x80:  # a lead byte (or ASCII): how long is its sequence?
            need = 4 if c >= 0xF0 else 3 if c >= 0xE0 else 2 if c >= 0xC0 else 1
            return back if back < need else 0
        back += 1
    return 0


class Decoder:
    def __init__(self, part_size=1024):
        self.buf = bytearray(part_size)  # a data part: buf[:n] after a TEXT/BINARY event
        self._mv = memoryview(self.buf)
        self._hdr = bytearray(10)
        self._ctl = bytearray(_MAX_CONTROL)
        self.opcode = 0  # of the last event
        self.n = 0  # bytes of the last data part
        self.fin = False  # the last data part ends its message
        self.close_code = None
        self.close_reason = ""
        self._msg_op = 0  # opcode of the message under way, 0 if none
        self._left = 0  # payload bytes of the current data frame still to come
        self._carry = 0  # bytes of an incomplete code point kept after the last part
        self._fresh = False  # a part was handed out: the next read starts a new one
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
        if self._state == _BODY and self._op < CLOSE:
            self._restart_part()
        return self._tmv[self._at : self._end]

    def _restart_part(self):
        # A new part begins with the bytes of a code point the previous part held back.
        if self._fresh:
            buf = self.buf
            at = self.n
            for i in range(self._carry):
                buf[i] = buf[at + i]
            self._at = self._carry
            self._fresh = False
        self._end = self._at + min(len(self.buf) - self._at, self._left)

    def advance(self, n):
        """n bytes landed in target(). Returns an event opcode (TEXT/BINARY: a part of the
        message in buf[:self.n], self.fin on its last; PING/PONG: payload in control(); CLOSE:
        close_code/close_reason) or None."""
        self._at += n
        if self._state == _BODY and self._op < CLOSE:
            self._left -= n
            return self._part()
        if self._at < self._end:
            return None
        if self._state == _HEAD:
            return self._head()
        if self._state == _EXT:
            return self._ext()
        return self._control_done()

    def frame_left(self):
        """Payload bytes of the current data frame not read yet."""
        return self._left if self._state == _BODY and self._op < CLOSE else 0

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
                raise MessageTooBig(1 << 30, _MAX_FRAME)
            n = (h[6] << 24) | (h[7] << 16) | (h[8] << 8) | h[9]
        return self._body(n)

    def _body(self, n):
        self._len = n
        self._state = _BODY
        if self._op >= CLOSE:
            self._tmv = memoryview(self._ctl)
            self._at = 0
            self._end = n
            return self._control_done() if n == 0 else None
        if self._op != CONT:
            self._msg_op = self._op
            self._carry = 0  # a new message starts its first part empty
            self._fresh = True
        self._left = n
        self._tmv = self._mv
        if n == 0:
            self._restart_part()
            return self._part()
        return None

    def _part(self):
        # Bytes arrived in the part buffer: hand them out (all but an unfinished code point).
        total = self._at
        last = self._left == 0 and self._fin
        tail = 0
        if self._msg_op == TEXT:
            if not last:
                tail = utf8_tail(self.buf, total)
            bad = kernels.utf8_error(self.buf, 0, total - tail)
            if bad >= 0:
                raise ProtocolError("text message is not UTF-8", 1007)
        self.n = total - tail
        self._carry = tail
        self._fresh = True
        self.fin = last
        op = self._msg_op
        if self._left == 0:
            self._reset_head()
            if self._fin:
                self._msg_op = 0
        if self.n == 0 and not last:
            return None
        self.opcode = op
        return op

    def _control_done(self):
        op = self._op
        n = self._len
        self._reset_head()
        self.opcode = op
        if op == CLOSE:
            self._parse_close(n)
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
