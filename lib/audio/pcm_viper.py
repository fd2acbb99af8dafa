# Viper kernels for audio/pcm.py, written in the subset that is also valid plain Python (see
# audio/g711_viper.py for the pattern). All buffers are bytes-like, 16/32-bit little-endian;
# every multiplication is bounded so a 32-bit viper int cannot overflow.
import micropython

try:
    ptr8  # noqa: B018 - a viper builtin, undefined outside viper functions
except NameError:

    def ptr8(buf):
        return buf


@micropython.viper
def s32_to_s16(src, soff: int, dst, doff: int, n: int, shift: int, gain_q8: int) -> int:
    # 32-bit slots (INMP441: 24-bit data left-justified) from byte offset soff -> int16 at byte
    # offset doff: arithmetic shift right, gain (Q8), saturation. In place works (dst behind src).
    s = ptr8(src)
    d = ptr8(dst)
    i = 0
    while i < n:
        j = soff + 4 * i
        hi = s[j + 3]
        if hi & 0x80:
            hi -= 256
        if shift >= 8:
            # Drop the low byte first: same result, and the intermediate stays below 2**30, so
            # the plain-Python run of this kernel never makes a heap-allocated big int.
            v = ((hi << 16) | (s[j + 2] << 8) | s[j + 1]) >> (shift - 8)
        else:
            v = ((hi << 24) | (s[j + 2] << 16) | (s[j + 1] << 8) | s[j]) >> shift
        if gain_q8 != 256:
            if v > 1048576:
                v = 1048576
            elif v < -1048576:
                v = -1048576
            v = (v * gain_q8) >> 8
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        d[doff + 2 * i] = v & 0xFF
        d[doff + 2 * i + 1] = (v >> 8) & 0xFF
        i += 1
    return n


@micropython.viper
def copy(dst, doff: int, src, soff: int, n: int) -> int:
    # n bytes src[soff:] -> dst[doff:] without the memoryview a slice would allocate.
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[doff + i] = s[soff + i]
        i += 1
    return n


@micropython.viper
def scale16(buf, n: int, gain_q12: int) -> int:
    # In place: sample * gain / 4096 with saturation (gain_q12 <= 65535).
    b = ptr8(buf)
    i = 0
    while i < n:
        v = b[2 * i] | (b[2 * i + 1] << 8)
        if v & 0x8000:
            v -= 0x10000
        v = (v * gain_q12) >> 12
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        b[2 * i] = v & 0xFF
        b[2 * i + 1] = (v >> 8) & 0xFF
        i += 1
    return n


@micropython.viper
def mono_to_stereo16(src, dst, n: int) -> int:
    # Each sample to both channels; runs backwards so dst may be the same buffer as src.
    s = ptr8(src)
    d = ptr8(dst)
    i = n - 1
    while i >= 0:
        lo = s[2 * i]
        hi = s[2 * i + 1]
        d[4 * i] = lo
        d[4 * i + 1] = hi
        d[4 * i + 2] = lo
        d[4 * i + 3] = hi
        i -= 1
    return n << 2


@micropython.viper
def s16_to_s32(src, dst, n: int) -> int:
    # int16 -> the top half of 32-bit slots (codec buses clocked at 64 fs); runs backwards so
    # dst may be src.
    s = ptr8(src)
    d = ptr8(dst)
    i = n - 1
    while i >= 0:
        hi = s[2 * i + 1]
        lo = s[2 * i]
        d[4 * i] = 0
        d[4 * i + 1] = 0
        d[4 * i + 2] = lo
        d[4 * i + 3] = hi
        i -= 1
    return n << 2


@micropython.viper
def mean_abs16(buf, n: int) -> int:
    # Mean absolute amplitude of n int16 samples (the VAD's energy measure; cannot overflow).
    b = ptr8(buf)
    total = 0
    i = 0
    while i < n:
        v = b[2 * i] | (b[2 * i + 1] << 8)
        if v & 0x8000:
            v = 0x10000 - v
        total += v
        i += 1
    if n == 0:
        return 0
    return total // n


@micropython.viper
def resample16(src, n: int, dst, cap: int, step: int, state) -> int:
    # Linear interpolation, phase in Q16 input samples. state (4 x int32 LE bytes):
    # [position of the next output relative to the previous block's last sample, that sample].
    # Input positions: 0 = previous last sample, j + 1 = src[j]. Returns samples written.
    s = ptr8(src)
    d = ptr8(dst)
    st = ptr8(state)
    p = st[0] | (st[1] << 8) | (st[2] << 16) | (st[3] << 24)
    prev = st[4] | (st[5] << 8)
    if prev & 0x8000:
        prev -= 0x10000
    out = 0
    while out < cap:
        k = p >> 16
        if k >= n:
            break
        if k == 0:
            a = prev
        else:
            a = s[2 * k - 2] | (s[2 * k - 1] << 8)
            if a & 0x8000:
                a -= 0x10000
        b = s[2 * k] | (s[2 * k + 1] << 8)
        if b & 0x8000:
            b -= 0x10000
        v = a + (((b - a) * ((p & 0xFFFF) >> 2)) >> 14)
        d[2 * out] = v & 0xFF
        d[2 * out + 1] = (v >> 8) & 0xFF
        out += 1
        p += step
    if n > 0 and (p >> 16) >= n:
        p -= n << 16
        st[4] = s[2 * n - 2]
        st[5] = s[2 * n - 1]
    st[0] = p & 0xFF
    st[1] = (p >> 8) & 0xFF
    st[2] = (p >> 16) & 0xFF
    st[3] = (p >> 24) & 0xFF
    return out
