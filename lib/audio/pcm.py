# PCM helpers for the audio path: 32-bit mic slots to int16, software volume, mono to stereo,
# frame energy and a streaming linear resampler. All of them work on caller-provided buffers and
# allocate nothing per call.
#
# The loops are one source, the viper kernels in audio/pcm_viper.py: native on the ESP32, the
# same code as plain Python in the host tiers (decorator a no-op on CPython, stripped by the
# WebAssembly runner). This module checks arguments, so a wrong size is a clear ValueError and
# never a write past a buffer.
from micropython import const

from audio import pcm_viper as _k

_UNITY_Q8 = const(256)
_UNITY_Q12 = const(4096)


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
    return _k.s32_to_s16(src, soff, dst, doff, n, shift, gain_q8)


def copy(dst, doff, src, soff, n):
    """n bytes src[soff:] -> dst[doff:], allocating nothing (a memoryview slice would)."""
    _need(src, soff + n, "source")
    _need(dst, doff + n, "destination")
    return _k.copy(dst, doff, src, soff, n)


def scale16(buf, n, gain_q12):
    """In place: n int16 samples times gain_q12 / 4096, saturated (gain_q12 0..65535)."""
    if not 0 <= gain_q12 <= 65535:
        raise ValueError("pcm: gain_q12 must be 0..65535")
    _need(buf, 2 * n, "buffer")
    if gain_q12 == _UNITY_Q12:
        return n
    return _k.scale16(buf, n, gain_q12)


def mono_to_stereo16(src, dst, n):
    """n mono int16 samples -> 2n interleaved (L = R); dst may be src. Returns bytes written."""
    _need(src, 2 * n, "source")
    _need(dst, 4 * n, "destination")
    return _k.mono_to_stereo16(src, dst, n)


def s16_to_s32(src, dst, n):
    """n int16 -> n 32-bit slots (sample in the top 16 bits); dst may be src. Returns bytes."""
    _need(src, 2 * n, "source")
    _need(dst, 4 * n, "destination")
    return _k.s16_to_s32(src, dst, n)


def mean_abs16(buf, n):
    """Mean absolute amplitude of n int16 samples."""
    _need(buf, 2 * n, "buffer")
    return _k.mean_abs16(buf, n)


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
        return _k.resample16(src, n_in, dst, cap, self.step, self._state)
