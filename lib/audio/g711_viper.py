# Viper kernels for audio/g711.py, written in the subset that is also valid plain Python.
#
# On the ESP32 these compile to native Xtensa code. On CPython (tools/hostcompat.py makes the
# decorator a no-op) and in the MicroPython WebAssembly tier (the test runner strips the
# decorator) the same source runs as ordinary Python, so the kernel that ships is the kernel the
# tests check. It is the only copy: audio/g711.py calls it on every port.
# Only ptr8 is used: plain Python indexes a bytearray the same way viper indexes a ptr8.
import micropython

try:
    ptr8  # noqa: B018 - a viper builtin, undefined outside viper functions
except NameError:

    def ptr8(buf):
        return buf


@micropython.viper
def encode_alaw(src, dst, n: int, segment_table) -> int:
    s = ptr8(src)
    d = ptr8(dst)
    seg_of = ptr8(segment_table)
    i = 0
    while i < n:
        x = s[2 * i] | (s[2 * i + 1] << 8)
        if x & 0x8000:
            x -= 0x10000
        x = x >> 3
        mask = 0xD5
        if x < 0:
            mask = 0x55
            x = -x - 1
        seg = seg_of[x >> 5]
        if seg < 2:
            step = x >> 1
        else:
            step = x >> seg
        d[i] = ((seg << 4) | (step & 0x0F)) ^ mask
        i += 1
    return n


@micropython.viper
def encode_ulaw(src, dst, n: int, segment_table) -> int:
    s = ptr8(src)
    d = ptr8(dst)
    seg_of = ptr8(segment_table)
    i = 0
    while i < n:
        x = s[2 * i] | (s[2 * i + 1] << 8)
        if x & 0x8000:
            x -= 0x10000
        x = x >> 2
        mask = 0xFF
        if x < 0:
            x = -x
            mask = 0x7F
        if x > 8159:
            x = 8159
        x += 33
        seg = seg_of[x >> 6]
        if seg >= 8:
            d[i] = 0x7F ^ mask
        else:
            d[i] = ((seg << 4) | ((x >> (seg + 1)) & 0x0F)) ^ mask
        i += 1
    return n


@micropython.viper
def decode(src, dst, n: int, table) -> int:
    s = ptr8(src)
    d = ptr8(dst)
    t = ptr8(table)
    i = 0
    while i < n:
        c = s[i] << 1
        d[2 * i] = t[c]
        d[2 * i + 1] = t[c + 1]
        i += 1
    return n << 1
