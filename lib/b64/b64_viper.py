# Viper kernels for b64/__init__.py, written in the subset that is also valid plain Python.
#
# On the ESP32 these compile to native Xtensa code; on CPython (lib/compat.py makes the decorator
# a no-op) and in the MicroPython WebAssembly tier (the runner strips the decorator) the same
# source runs as ordinary Python, so the kernel that ships is the one the tests check.
# Only ptr8 indexing is used, and every store is masked to 8 bits because a bytearray store
# in plain Python refuses values above 255 where viper would silently truncate.
import micropython

try:
    ptr8  # noqa: B018 - a viper builtin, undefined outside viper functions
except NameError:

    def ptr8(buf):
        return buf


@micropython.viper
def encode(src, n: int, dst, off: int, table) -> int:
    # n bytes of src -> base64 at dst[off:], padded with '='; returns characters written.
    s = ptr8(src)
    d = ptr8(dst)
    t = ptr8(table)
    i = 0
    j = off
    while i + 2 < n:
        a = s[i]
        b = s[i + 1]
        c = s[i + 2]
        d[j] = t[a >> 2]
        d[j + 1] = t[((a & 3) << 4) | (b >> 4)]
        d[j + 2] = t[((b & 15) << 2) | (c >> 6)]
        d[j + 3] = t[c & 63]
        i += 3
        j += 4
    rest = n - i
    if rest == 1:
        a = s[i]
        d[j] = t[a >> 2]
        d[j + 1] = t[(a & 3) << 4]
        d[j + 2] = 61
        d[j + 3] = 61
        j += 4
    elif rest == 2:
        a = s[i]
        b = s[i + 1]
        d[j] = t[a >> 2]
        d[j + 1] = t[((a & 3) << 4) | (b >> 4)]
        d[j + 2] = t[(b & 15) << 2]
        d[j + 3] = 61
        j += 4
    return j - off


@micropython.viper
def decode(src, start: int, end: int, dst, off: int, rtable) -> int:
    # Whole unpadded quads src[start:end] -> dst[off:]; returns bytes written, or -1 - i where
    # i is the offset of the first quad holding a byte outside the alphabet ('=' included).
    s = ptr8(src)
    d = ptr8(dst)
    r = ptr8(rtable)
    i = start
    j = off
    while i < end:
        a = r[s[i]]
        b = r[s[i + 1]]
        c = r[s[i + 2]]
        e = r[s[i + 3]]
        if (a | b | c | e) & 0xC0:
            return -1 - i
        d[j] = ((a << 2) | (b >> 4)) & 0xFF
        d[j + 1] = ((b << 4) | (c >> 2)) & 0xFF
        d[j + 2] = ((c << 6) | e) & 0xFF
        i += 4
        j += 3
    return j - off
