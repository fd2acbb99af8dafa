# One JSON object that arrives in pieces, walked once, never held whole.
#
# A downlink message can be an audio delta of a megabyte (nearly all of it one base64 string) or
# a text event with a 64 KB answer in it. Filter walks the token structure byte by byte across
# any piece boundaries, keeps a fixed-size stack, and writes a shrunk copy of the message into
# one bounded buffer (`out`):
# - whitespace between tokens is dropped;
# - every string is copied up to `cap` bytes, then shortened: never inside a UTF-8 sequence or
#   a backslash escape, so the copy stays valid JSON that json.loads takes as it is;
# - the string value of a sink slot (the audio field) goes to a sink as it streams, and the
#   copy holds "" (mode AUDIO) or its shortened text as well (mode BOTH: the message type is
#   not known yet, so it may still be text). The sink may take less than it is offered (the
#   player is full): feed() then returns where it stopped, and the caller feeds from there
#   once there is room. That is how TCP back-pressure reaches the socket.
# It records (start, end) offsets in `out` of the string values of the keys asked for: keys at
# the top level, and keys inside one named top-level object (Coze's "data"). Key order does not
# matter. Nothing is allocated per message. It locates and bounds; it does not validate: what is
# not an audio delta still goes through json.loads on the shrunk copy.
from micropython import const


def _portable_run_end(buf, i, n):
    while i < n and buf[i] != 34 and buf[i] != 92:
        i += 1
    return i


def _portable_copy(dst, j, src, i, k):
    dst[j : j + k] = src[i : i + k]


try:
    from cloud import jscan_viper as _fast

    run_end = _fast.run_end
    copy = _fast.copy
    KERNEL = "viper"
except (ImportError, SyntaxError, ValueError):  # a port without the native emitter
    _fast = None
    run_end = _portable_run_end
    copy = _portable_copy
    KERNEL = "portable"

COPY = const(0)  # an ordinary string: copied into `out` (shortened past cap)
AUDIO = const(1)  # to the sink only
BOTH = const(2)  # to the sink and copied

_MAX_DEPTH = const(16)
_MAX_LITERAL = const(40)  # the longest number / true / false / null kept
_TOKEN = const(0)  # between tokens
_STRING = const(1)
_ESCAPE = const(2)  # after a backslash inside a string
_LITERAL = const(3)
_AFTER = const(4)  # the object has closed: only whitespace may follow
_SLASH = b"/"


class ScanError(ValueError):
    pass


def _match(keys, buf, start, end):
    # Index of the key equal to buf[start:end], or -1.
    size = end - start
    for k in range(len(keys)):
        key = keys[k]
        if len(key) == size:
            j = 0
            while j < size and buf[start + j] == key[j]:
                j += 1
            if j == size:
                return k
    return -1


def equals(buf, start, end, word):
    """True when buf[start:end] holds exactly the bytes of word (no allocation)."""
    return end - start == len(word) and _match((word,), buf, start, end) == 0


def _space(c):
    return c == 32 or c == 10 or c == 13 or c == 9


class Filter:
    def __init__(self, keys, parent=None, inner=(), sink_slots=(), size=4096, cap=1024):
        self.keys = keys  # wanted keys at the top level (bytes)
        self.parent = parent  # name of the top-level object whose keys `inner` are wanted
        self.inner = inner
        count = len(keys) + len(inner)
        # spans[2k], spans[2k+1]: offsets in `out` of the k-th wanted value; -1 = absent
        self.spans = [-1] * (2 * count)
        self.escaped = bytearray(count)  # 1 where the value holds backslash escapes
        self._to_sink = bytearray(count)
        for slot in sink_slots:
            self._to_sink[slot] = 1
        self.out = bytearray(size)
        self.cap = cap
        self._stack = bytearray(_MAX_DEPTH)
        self.begin()

    def begin(self):
        """A new message."""
        spans = self.spans
        for k in range(len(spans)):
            spans[k] = -1
        self.n = 0  # bytes in out
        self.overflow = False  # out could not hold the shrunk message
        self.shortened = 0  # strings shortened to cap
        self._state = _TOKEN
        self._depth = 0
        self._key = False  # the next string is a key
        self._slot = -1  # the wanted slot whose value comes next, or -1
        self._to_parent = False  # the value coming next is the parent object
        self._in_parent = False  # depth 2 is inside the parent object
        self._is_key = False  # the string being read is a key
        self._mode = COPY
        self._start = 0  # where the string's copy starts in out
        self._copied = 0  # bytes of the string copied
        self._capped = 0  # 1: at cap, finishing a UTF-8 sequence; 2: nothing more is copied
        self._force = 0  # hex digits of a \u escape still to copy whole
        self._lit = 0

    def span(self, slot):
        return self.spans[2 * slot], self.spans[2 * slot + 1]

    def feed(self, buf, i, n, sink=None):
        """Walk buf[i:n]; returns the index reached: n, or less when the sink is full."""
        while i < n:
            state = self._state
            if state == _STRING:
                i = self._string(buf, i, n, sink)
                if self._state == _STRING:
                    return i
                continue
            if state == _ESCAPE:
                if not self._escape(buf[i], sink):
                    return i
                i += 1
                continue
            c = buf[i]
            if state == _LITERAL:
                if c == 44 or c == 125 or c == 93 or _space(c):
                    self._state = _TOKEN
                    continue
                self._lit += 1
                if self._lit > _MAX_LITERAL:
                    raise ScanError("a number or literal over %d bytes" % _MAX_LITERAL)
                self._put(c)
                i += 1
                continue
            i += 1
            if _space(c):
                continue
            if state == _AFTER:
                raise ScanError("trailing bytes after the JSON object")
            if c == 34:
                self._open_string(sink)
            elif c == 123 or c == 91:  # { [
                self._open(c)
            elif c == 125 or c == 93:  # } ]
                self._close(c)
            elif c == 44 or c == 58:  # , :
                if self._depth == 0:
                    raise ScanError("not a JSON object")
                self._put(c)
                if c == 44:
                    self._key = self._stack[self._depth - 1] == 123
                    self._slot = -1
            else:  # number, true, false, null
                if self._depth == 0:
                    raise ScanError("not a JSON object")
                self._slot = -1
                self._state = _LITERAL
                self._lit = 0
                i -= 1
        return i

    def end(self):
        """The message is complete: returns the length of the shrunk copy; raises ScanError."""
        if self._state != _AFTER:
            raise ScanError("truncated JSON")
        if self.overflow:
            raise ScanError("over %d bytes even with long strings shortened" % len(self.out))
        return self.n

    # -- structure -----------------------------------------------------------------------------

    def _open(self, c):
        depth = self._depth
        if depth >= _MAX_DEPTH:
            raise ScanError("nested deeper than %d" % _MAX_DEPTH)
        if depth == 0 and c != 123:
            raise ScanError("not a JSON object")
        self._put(c)
        self._stack[depth] = c
        self._depth = depth + 1
        if depth == 1:
            self._in_parent = self._to_parent and c == 123
        self._to_parent = False
        self._slot = -1
        self._key = c == 123

    def _close(self, c):
        depth = self._depth
        if depth == 0 or self._stack[depth - 1] != c - 2:
            raise ScanError("unbalanced %s" % chr(c))
        self._put(c)
        self._depth = depth - 1
        if depth - 1 < 2:
            self._in_parent = False
        self._key = False
        self._slot = -1
        if depth == 1:
            self._state = _AFTER

    # -- strings -------------------------------------------------------------------------------

    def _open_string(self, sink):
        if self._depth == 0:
            raise ScanError("not a JSON object")
        self._put(34)
        self._start = self.n
        self._copied = 0
        self._capped = 0
        self._force = 0
        self._is_key = self._key
        self._mode = COPY
        slot = self._slot
        if not self._is_key and slot >= 0:
            self.escaped[slot] = 0
            if self._to_sink[slot] and sink is not None:
                self._mode = sink.start()
        self._state = _STRING

    def _string(self, buf, i, n, sink):
        stop = run_end(buf, i, n)
        if self._mode != COPY:
            took = sink.take(buf, i, stop)
            if self._mode == BOTH:
                self._copy(buf, i, took)
            if took < stop:
                return took  # the sink is full: go on from here when it has room
        else:
            self._copy(buf, i, stop)
        if stop >= n:
            return stop
        if buf[stop] == 34:
            self._close_string(sink)
        else:
            self._state = _ESCAPE
            if not self._is_key and self._slot >= 0:
                self.escaped[self._slot] = 1
        return stop + 1

    def _escape(self, c, sink):
        # The byte after a backslash. Base64 holds only "\/" (JSON lets a server escape '/').
        if self._mode != COPY:
            if c == 47:
                if not sink.take(_SLASH, 0, 1):
                    return False
            else:
                sink.invalid()
        if self._mode != AUDIO:
            if not self._capped and self._copied + 6 <= self.cap:
                self._put(92)
                self._put(c)
                self._copied += 2
                if c == 117:  # \uXXXX: its four digits are copied whole
                    self._force = 4
            else:
                self._capped = 2  # a shortened string stops before an escape, never inside
        self._state = _STRING
        return True

    def _copy(self, buf, a, b):
        k = b - a
        if k <= 0:
            return
        if self._force:
            f = self._force if self._force < k else k
            self._put_run(buf, a, f)
            self._force -= f
            a += f
            k -= f
        if self._capped == 0:
            room = self.cap - self._copied
            if k > room:
                self._capped = 1
                self.shortened += 1
                self._put_run(buf, a, room)
                self._copied += room
                a += room
                k -= room
            else:
                self._put_run(buf, a, k)
                self._copied += k
                return
        if self._capped == 1:
            # At cap: finish the UTF-8 sequence under way, then copy nothing more.
            take = 0
            while take < k and buf[a + take] & 0xC0 == 0x80:
                take += 1
            self._put_run(buf, a, take)
            if take < k:
                self._capped = 2

    def _close_string(self, sink):
        self._put(34)
        end = self.n - 1
        self._state = _TOKEN
        if self._is_key:
            self._key = False
            slot = -1
            self._to_parent = False
            if self._depth == 1:
                slot = _match(self.keys, self.out, self._start, end)
                self._to_parent = self.parent is not None and equals(
                    self.out, self._start, end, self.parent)
            elif self._depth == 2 and self._in_parent:
                slot = _match(self.inner, self.out, self._start, end)
                if slot >= 0:
                    slot += len(self.keys)
            self._slot = slot
            return
        if self._mode != COPY:
            sink.end()
        slot = self._slot
        if slot >= 0:
            self.spans[2 * slot] = self._start
            self.spans[2 * slot + 1] = end
        self._slot = -1

    # -- the shrunk copy -----------------------------------------------------------------------

    def _put(self, c):
        if self.n < len(self.out):
            self.out[self.n] = c
            self.n += 1
        else:
            self.overflow = True

    def _put_run(self, buf, a, k):
        room = len(self.out) - self.n
        if k > room:
            k = room
            self.overflow = True
        if k > 0:
            copy(self.out, self.n, buf, a, k)
            self.n += k


def use_kernel(name):
    """Select "viper" or "portable" (tests compare the two)."""
    global run_end, copy, KERNEL, _fast
    if name == "portable":
        _fast = None
        run_end = _portable_run_end
        copy = _portable_copy
    else:
        from cloud import jscan_viper as _fast

        run_end = _fast.run_end
        copy = _fast.copy
    KERNEL = name
