# Reference PCM loops for tests/mp/test_kernels_viper_pcm.py, written apart from the kernels
# (lib/audio/pcm_viper.py) with the kernels' signatures: kernel_util.agree() runs them as a third
# build beside the native and the stripped one. They were the kernels' portable twin in lib/
# until the kernels became one source.


def _sat16(v):
    return 32767 if v > 32767 else (-32768 if v < -32768 else v)


def _get16(b, i):
    v = b[2 * i] | (b[2 * i + 1] << 8)
    return v - 0x10000 if v & 0x8000 else v


def _put16(b, i, v):
    b[2 * i] = v & 0xFF
    b[2 * i + 1] = (v >> 8) & 0xFF


def s32_to_s16(src, soff, dst, doff, n, shift, gain_q8):
    for i in range(n):
        j = soff + 4 * i
        hi = src[j + 3]
        if hi & 0x80:
            hi -= 256
        v = ((hi << 24) | (src[j + 2] << 16) | (src[j + 1] << 8) | src[j]) >> shift
        if gain_q8 != 256:
            v = (max(-1048576, min(1048576, v)) * gain_q8) >> 8
        v = _sat16(v)
        dst[doff + 2 * i] = v & 0xFF
        dst[doff + 2 * i + 1] = (v >> 8) & 0xFF
    return n


def copy(dst, doff, src, soff, n):
    # Without viper a byte loop is slow; one memoryview (16 bytes) is the cheaper cost here.
    memoryview(dst)[doff : doff + n] = memoryview(src)[soff : soff + n]
    return n


def scale16(buf, n, gain_q12):
    for i in range(n):
        _put16(buf, i, _sat16((_get16(buf, i) * gain_q12) >> 12))
    return n


def mono_to_stereo16(src, dst, n):
    for i in range(n - 1, -1, -1):
        lo, hi = src[2 * i], src[2 * i + 1]
        dst[4 * i], dst[4 * i + 1], dst[4 * i + 2], dst[4 * i + 3] = lo, hi, lo, hi
    return 4 * n


def s16_to_s32(src, dst, n):
    for i in range(n - 1, -1, -1):
        lo, hi = src[2 * i], src[2 * i + 1]
        dst[4 * i], dst[4 * i + 1], dst[4 * i + 2], dst[4 * i + 3] = 0, 0, lo, hi
    return 4 * n


def mean_abs16(buf, n):
    total = 0
    for i in range(n):
        total += abs(_get16(buf, i))
    return total // n if n else 0


def resample16(src, n, dst, cap, step, state):
    p = state[0] | (state[1] << 8) | (state[2] << 16) | (state[3] << 24)
    prev = _get16(state, 2)
    out = 0
    while out < cap:
        k = p >> 16
        if k >= n:
            break
        a = prev if k == 0 else _get16(src, k - 1)
        b = _get16(src, k)
        _put16(dst, out, a + (((b - a) * ((p & 0xFFFF) >> 2)) >> 14))
        out += 1
        p += step
    if n > 0 and (p >> 16) >= n:
        p -= n << 16
        state[4], state[5] = src[2 * n - 2], src[2 * n - 1]
    state[0], state[1], state[2], state[3] = p & 0xFF, (p >> 8) & 0xFF, (p >> 16) & 0xFF, p >> 24
    return out
