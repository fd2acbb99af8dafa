# Viper kernels for the WebSocket client, written in the subset that is also plain Python.
#
# On the ESP32 these compile to native code; on CPython (tools/hostcompat.py makes the decorator
# a no-op) and in the WebAssembly tier (the runner strips it) the same source runs as ordinary
# Python, so the kernel that ships is the one the tests check (the only copy). Only ptr8
# indexing and small ints are used, so the plain-Python run allocates nothing either.
import micropython

try:
    ptr8  # noqa: B018 - a viper builtin, undefined outside viper functions
except NameError:

    def ptr8(buf):
        return buf


@micropython.viper
def mask(buf, start: int, n: int, key, koff: int):
    # XOR buf[start:start+n] with the 4-byte key at key[koff:koff+4], in place. Unrolled by four
    # so the key bytes stay in locals instead of being re-indexed per byte.
    b = ptr8(buf)
    k = ptr8(key)
    k0 = k[koff]
    k1 = k[koff + 1]
    k2 = k[koff + 2]
    k3 = k[koff + 3]
    i = start
    quads = start + n - (n & 3)
    while i < quads:
        b[i] = b[i] ^ k0
        b[i + 1] = b[i + 1] ^ k1
        b[i + 2] = b[i + 2] ^ k2
        b[i + 3] = b[i + 3] ^ k3
        i += 4
    j = 0
    end = start + n
    while i < end:
        b[i] = b[i] ^ k[koff + j]
        i += 1
        j += 1


@micropython.viper
def utf8_error(buf, start: int, n: int) -> int:
    # Offset (from start) of the first byte that is not well-formed UTF-8, or -1 if all of it is.
    # Strict per Unicode table 3-7: no overlongs, no surrogates, nothing above U+10FFFF, no
    # truncated sequence at the end.
    b = ptr8(buf)
    i = start
    end = start + n
    while i < end:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        lo = 0x80
        hi = 0xBF
        if c < 0xC2:
            return i - start
        if c < 0xE0:
            need = 1
        elif c < 0xF0:
            need = 2
            if c == 0xE0:
                lo = 0xA0
            elif c == 0xED:
                hi = 0x9F
        elif c < 0xF5:
            need = 3
            if c == 0xF0:
                lo = 0x90
            elif c == 0xF4:
                hi = 0x8F
        else:
            return i - start
        if i + need >= end:
            return i - start
        d = b[i + 1]
        if d < lo or d > hi:
            return i - start
        k = 2
        while k <= need:
            if (b[i + k] & 0xC0) != 0x80:
                return i - start
            k += 1
        i += need + 1
    return -1


@micropython.viper
def keystream(state, out, off: int, n: int):
    # RC4 output bytes into out[off:off+n]. state: 256-byte permutation, then i and j.
    s = ptr8(state)
    o = ptr8(out)
    i = int(s[256])
    j = int(s[257])
    k = 0
    while k < n:
        i = (i + 1) & 0xFF
        si = int(s[i])
        j = (j + si) & 0xFF
        sj = int(s[j])
        s[i] = sj
        s[j] = si
        o[off + k] = s[(si + sj) & 0xFF]
        k += 1
    s[256] = i
    s[257] = j
