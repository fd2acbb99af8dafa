# Locate a few string fields of a JSON object in place, without building Python objects.
#
# The hot downlink messages (an audio delta is ~20 KB of JSON, nearly all of it one base64
# string) only need a handful of short fields and the position of the audio. Scanner walks the
# token structure once, keeps a small fixed-size stack, and records (start, end) byte offsets of
# the string values of the keys asked for: keys at the top level, and keys inside one named
# top-level object (Coze's "data"). Key order and whitespace do not matter; values of other types
# are skipped. Nothing is allocated per scan. The one long loop (skipping a string) is a viper
# kernel with a portable twin. It locates, it does not validate: messages that are not on the
# fast path still go through json.loads.
from micropython import const

try:
    from cloud import jscan_viper as _fast
except (ImportError, SyntaxError, ValueError):
    _fast = None

KERNEL = "viper" if _fast is not None else "portable"
_MAX_DEPTH = const(16)
_QUOTE = const(34)
_BACKSLASH = const(92)


class ScanError(ValueError):
    pass


def _portable_string_end(buf, i, n):
    esc = False
    while i < n:
        c = buf[i]
        if c == _QUOTE:
            return -1 - i if esc else i
        if c == _BACKSLASH:
            esc = True
            i += 2
        else:
            i += 1
    return -1 - n if esc else n


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


class Scanner:
    def __init__(self, keys, parent=None, inner=()):
        self.keys = keys  # wanted keys at the top level (bytes)
        self.parent = parent  # name of the top-level object whose keys `inner` are wanted
        self.inner = inner
        count = len(keys) + len(inner)
        # spans[2k], spans[2k+1]: offsets of the k-th wanted value (keys, then inner); -1 = absent
        self.spans = [-1] * (2 * count)
        self.escaped = bytearray(count)  # 1 where the value holds backslash escapes
        self._stack = bytearray(_MAX_DEPTH)

    def span(self, slot):
        return self.spans[2 * slot], self.spans[2 * slot + 1]

    def scan(self, buf, n):
        """Record the wanted fields of the JSON object in buf[:n]; raises ScanError."""
        spans = self.spans
        for k in range(len(spans)):
            spans[k] = -1
        string_end = _fast.string_end if _fast is not None else _portable_string_end
        stack = self._stack
        inner_base = len(self.keys)
        depth = 0
        expect_key = False
        slot = -1
        to_parent = False
        in_parent = False
        i = 0
        while i < n:
            c = buf[i]
            if c == 32 or c == 10 or c == 13 or c == 9 or c == 58:  # whitespace and ':'
                i += 1
            elif c == _QUOTE:
                q = string_end(buf, i + 1, n)
                esc = q < 0
                if esc:
                    q = -1 - q
                if q >= n:
                    raise ScanError("unterminated string at byte %d" % i)
                if depth == 0:
                    raise ScanError("not a JSON object")
                if expect_key:
                    slot = -1
                    to_parent = False
                    if depth == 1:
                        slot = _match(self.keys, buf, i + 1, q)
                        to_parent = self.parent is not None and equals(buf, i + 1, q, self.parent)
                    elif depth == 2 and in_parent:
                        slot = _match(self.inner, buf, i + 1, q)
                        if slot >= 0:
                            slot += inner_base
                    expect_key = False
                else:
                    if slot >= 0:
                        spans[2 * slot] = i + 1
                        spans[2 * slot + 1] = q
                        self.escaped[slot] = 1 if esc else 0
                    slot = -1
                i = q + 1
            elif c == 123 or c == 91:  # { [
                if depth >= _MAX_DEPTH:
                    raise ScanError("nested deeper than %d" % _MAX_DEPTH)
                if depth == 0 and c != 123:
                    raise ScanError("not a JSON object")
                stack[depth] = c
                depth += 1
                in_parent = depth == 2 and to_parent and c == 123
                to_parent = False
                slot = -1
                expect_key = c == 123
                i += 1
            elif c == 125 or c == 93:  # } ]
                if depth == 0 or stack[depth - 1] != c - 2:
                    raise ScanError("unbalanced %s at byte %d" % (chr(c), i))
                depth -= 1
                if depth < 2:
                    in_parent = False
                expect_key = False
                slot = -1
                i += 1
                if depth == 0:
                    break
            elif c == 44:  # ,
                if depth == 0:
                    raise ScanError("not a JSON object")
                expect_key = stack[depth - 1] == 123
                slot = -1
                i += 1
            else:
                # number, true, false, null: skip to the next delimiter
                if depth == 0:
                    raise ScanError("not a JSON object")
                slot = -1
                while i < n:
                    c = buf[i]
                    if c == 44 or c == 125 or c == 93 or c == 32 or c == 10 or c == 13 or c == 9:
                        break
                    i += 1
        if depth != 0 or i == 0:
            raise ScanError("truncated JSON (%d bytes)" % n)
        while i < n:
            c = buf[i]
            if not (c == 32 or c == 10 or c == 13 or c == 9):
                raise ScanError("trailing bytes after the JSON object at byte %d" % i)
            i += 1


def use_kernel(name):
    """Select "viper" or "portable" (tests compare the two)."""
    global _fast, KERNEL
    if name == "portable":
        _fast = None
    else:
        from cloud import jscan_viper

        _fast = jscan_viper
    KERNEL = name
