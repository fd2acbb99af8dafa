# PCM helpers for the audio path: 32-bit mic slots to int16, software volume, mono to stereo,
# frame energy and a streaming linear resampler. All of them work on caller-provided buffers and
# allocate nothing per call.
#
# The kernels live in audio/pcm_viper.py (native on the ESP32, plain Python elsewhere: the same
# source runs in every test tier). Ports built without the native emitter use the portable loops
# below; use_kernel() lets tests and benchmarks run both and compare them sample for sample.
from micropython import const

try:
    from audio import pcm_viper as _fast
except (ImportError, SyntaxError, ValueError, NotImplementedError):
    _fast = None

KERNEL = "viper" if _fast is not None else "portable"

_UNITY_Q8 = const(256)
_UNITY_Q12 = const(4096)


def _sat16(v):
    return 32767 if v > 32767 else (-32768 if v < -32768 else v)


def _get16(b, i):
    v = b[2 * i] | (b[2 * i + 1] << 8)
    return v - 0x10000 if v & 0x8000 else v


def _put16(b, i, v):
    b[2 * i] = v & 0xFF
    b[2 * i + 1] = (v >> 8) & 0xFF


def _p_s32_to_s16(src, soff, dst, doff, n, shift, gain_q8):
    for i in range(n):
        j = soff + 4 * i
        hi = src[j + 3]
        if hi & 0x80:
            hi -= 256
        v = ((hi << 24) | (src[j + 2] << 16) | (src[j + 1] << 8) | src[j]) >> shift
        if gain_q8 != _UNITY_Q8:
            v = (max(-1048576, min(1048576, v)) * gain_q8) >> 8
        v = _sat16(v)
        dst[doff + 2 * i] = v & 0xFF
        dst[doff + 2 * i + 1] = (v >> 8) & 0xFF
    return n


def _p_copy(dst, doff, src, soff, n):
    # Without viper a byte loop is slow; one memoryview (16 bytes) is the cheaper cost here.
    memoryview(dst)[doff : doff + n] = memoryview(src)[soff : soff + n]
    return n


def _p_scale16(buf, n, gain_q12):
    for i in range(n):
        _put16(buf, i, _sat16((_get16(buf, i) * gain_q12) >> 12))
    return n


def _p_mono_to_stereo16(src, dst, n):
    for i in range(n - 1, -1, -1):
        lo, hi = src[2 * i], src[2 * i + 1]
        dst[4 * i], dst[4 * i + 1], dst[4 * i + 2], dst[4 * i + 3] = lo, hi, lo, hi
    return 4 * n


def _p_s16_to_s32(src, dst, n):
    for i in range(n - 1, -1, -1):
        lo, hi = src[2 * i], src[2 * i + 1]
        dst[4 * i], dst[4 * i + 1], dst[4 * i + 2], dst[4 * i + 3] = 0, 0, lo, hi
    return 4 * n


def _p_mean_abs16(buf, n):
    total = 0
    for i in range(n):
        total += abs(_get16(buf, i))
    return total // n if n else 0


def _p_resample16(src, n, dst, cap, step, state):
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


def _need(buf, nbytes, what):
    if len(buf) < nbytes:
        raise ValueError("pcm: %s holds %d bytes, needs %d" % (what, len(buf), nbytes))


def s32_to_s16(src, dst, n, shift=16, gain_q8=_UNITY_Q8, soff=0, doff=0):
    """n 32-bit LE slots of src[soff:] -> n int16 at dst[doff:]: (x >> shift) * gain_q8 / 256,
    saturated. dst may be src. shift 0..31; gain_q8 1..1024 (1/256x .. 4x)."""
    if not 0 <= shift <= 31 or not 0 < gain_q8 <= 1024:
        raise ValueError("pcm: shift must be 0..31 and gain_q8 1..1024")
    _need(src, soff + 4 * n, "source")
    _need(dst, doff + 2 * n, "destination")
    if _fast is not None:
        return _fast.s32_to_s16(src, soff, dst, doff, n, shift, gain_q8)
    return _p_s32_to_s16(src, soff, dst, doff, n, shift, gain_q8)


def copy(dst, doff, src, soff, n):
    """n bytes src[soff:] -> dst[doff:], allocating nothing (a memoryview slice would)."""
    _need(src, soff + n, "source")
    _need(dst, doff + n, "destination")
    if _fast is not None:
        return _fast.copy(dst, doff, src, soff, n)
    return _p_copy(dst, doff, src, soff, n)


def scale16(buf, n, gain_q12):
    """In place: n int16 samples times gain_q12 / 4096, saturated (gain_q12 0..65535)."""
    if not 0 <= gain_q12 <= 65535:
        raise ValueError("pcm: gain_q12 must be 0..65535")
    _need(buf, 2 * n, "buffer")
    if gain_q12 == _UNITY_Q12:
        return n
    if _fast is not None:
        return _fast.scale16(buf, n, gain_q12)
    return _p_scale16(buf, n, gain_q12)


def mono_to_stereo16(src, dst, n):
    """n mono int16 samples -> 2n interleaved (L = R); dst may be src. Returns bytes written."""
    _need(src, 2 * n, "source")
    _need(dst, 4 * n, "destination")
    if _fast is not None:
        return _fast.mono_to_stereo16(src, dst, n)
    return _p_mono_to_stereo16(src, dst, n)


def s16_to_s32(src, dst, n):
    """n int16 -> n 32-bit slots (sample in the top 16 bits); dst may be src. Returns bytes."""
    _need(src, 2 * n, "source")
    _need(dst, 4 * n, "destination")
    if _fast is not None:
        return _fast.s16_to_s32(src, dst, n)
    return _p_s16_to_s32(src, dst, n)


def mean_abs16(buf, n):
    """Mean absolute amplitude of n int16 samples."""
    _need(buf, 2 * n, "buffer")
    if _fast is not None:
        return _fast.mean_abs16(buf, n)
    return _p_mean_abs16(buf, n)


def use_kernel(name):
    """Select "viper" or "portable" kernels (tests and benchmarks compare the two)."""
    global _fast, KERNEL
    if name == "portable":
        _fast = None
    else:
        from audio import pcm_viper

        _fast = pcm_viper
    KERNEL = name


class Resampler:
    """Streaming linear-interpolation resampler for mono int16 (e.g. 24 kHz downlink onto a
    16 kHz I2S bus). Blocks may be any length; the phase and last sample carry over."""

    def __init__(self, in_rate, out_rate):
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError("resample: rates must be positive")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.step = (in_rate << 16) // out_rate
        self._state = bytearray(6)
        self.reset()

    def reset(self):
        st = self._state
        for i in range(6):
            st[i] = 0
        st[2] = 1  # first output at the first input sample (position 1 << 16)

    def max_out(self, n_in):
        """Most output samples n_in input samples can produce."""
        return ((n_in + 1) << 16) // self.step + 1

    def process(self, src, n_in, dst):
        """Resample n_in samples of src into dst; returns output samples written."""
        cap = len(dst) >> 1
        if cap < self.max_out(n_in):
            raise ValueError("resample: output holds %d samples, %d input samples need %d"
                             % (cap, n_in, self.max_out(n_in)))
        _need(src, 2 * n_in, "source")
        if _fast is not None:
            return _fast.resample16(src, n_in, dst, cap, self.step, self._state)
        return _p_resample16(src, n_in, dst, cap, self.step, self._state)
