# The mic's automatic gain control with a limiter: one 20 ms frame of 32-bit I2S slots in, int16
# out, the gain applied to the 24-bit data before it is cut to 16 bits (a quiet mic keeps its
# low bits instead of having them shifted away first).
#
#   agc = Agc(shift=14)          # the board's fixed shift is where the gain starts (+12 dB)
#   agc.process(raw, pcm, 320)   # per frame; agc.level is the frame's level before the gain
#   agc.freeze = True            # while only the bot talks (audio/echo.py): hold the gain
#
# Behaviour (tests/test_audio_agc.py and tests/mp/test_audio_frontend.py check each one):
# - Gain follows speech only: a frame adapts the gain when its level is well above the noise
#   floor (12 dB over the quietest frame of the last 0.64-0.96 s) and above an absolute floor, and
#   `freeze` is not set. In silence, steady noise or the bot's echo the gain holds, so a pause
#   never "breathes" the noise up.
# - Towards a target level (the mean |sample| of speech frames, ~-26 dBFS): down fast (a
#   quarter of the way per frame), up slowly (+0.07 dB per frame, ~3.4 dB/s), bounded to
#   MIN_GAIN_Q..MAX_GAIN_Q (-12..+30 dB over the top 16 bits of the slot).
# - Limiter: the frame's own peak is measured before it is converted, and the frame's gain is
#   cut to what keeps that peak under int16's rail. Nothing saturates, with no look-ahead delay.
#   The cut is for that frame only; the AGC gain itself moves at its own pace.
# Nothing is allocated per frame: the kernels (audio/agc_viper.py, native on the device) write
# into buffers made here; the gain arithmetic stays within small ints.
from array import array

from micropython import const

try:
    from audio import agc_viper as _fast
except (ImportError, SyntaxError, ValueError, NotImplementedError):
    _fast = None

KERNEL = "viper" if _fast is not None else "portable"

UNITY_Q = const(256)  # gain_q of x >> 16
MIN_GAIN_Q = const(64)  # -12 dB
MAX_GAIN_Q = const(8192)  # +30 dB
_TARGET = const(1500)  # int16 mean |sample| of a speech frame (~-26 dBFS)
_LIMIT = const(0x3FFF8000)  # 32767 << 15: peak * gain_q >> 15 stays <= 32767
_MIN_LEVEL = const(80)  # raw level (slot >> 13) below which nothing is speech (~-70 dBFS)
_BLOCK_FRAMES = const(16)  # noise floor: minimum per block of 16 frames (320 ms) ...
_BLOCKS = const(2)  # ... over the last 2 blocks and the current one
_NO_MIN = const(1 << 24)  # above any level


def _p_stats32(src, n, res):
    peak = total = 0
    for i in range(n):
        j = 4 * i
        hi = src[j + 3]
        v = ((hi - 256 if hi & 0x80 else hi) << 15) | (src[j + 2] << 7) | (src[j + 1] >> 1)
        v = -v if v < 0 else v
        peak = v if v > peak else peak
        total += v >> 4
    res[0] = peak
    res[1] = total // n if n else 0
    return peak


def _p_gain32(src, dst, doff, n, gain_q):
    lim = 0x3FFFFFFF // gain_q
    for i in range(n):
        j = 4 * i
        hi = src[j + 3]
        v = ((hi - 256 if hi & 0x80 else hi) << 15) | (src[j + 2] << 7) | (src[j + 1] >> 1)
        v = lim if v > lim else (-lim if v < -lim else v)
        v = (v * gain_q) >> 15
        v = 32767 if v > 32767 else (-32768 if v < -32768 else v)
        dst[doff + 2 * i] = v & 0xFF
        dst[doff + 2 * i + 1] = (v >> 8) & 0xFF
    return n


def use_kernel(name):
    """Select "viper" or "portable" kernels (tests compare the two)."""
    global _fast, KERNEL
    if name == "portable":
        _fast = None
    else:
        from audio import agc_viper

        _fast = agc_viper
    KERNEL = name


def stats32(src, n, res):
    """res[0] <- peak |slot >> 9|, res[1] <- mean |slot >> 9| >> 4 over n 32-bit slots."""
    if _fast is not None:
        return _fast.stats32(src, n, res)
    return _p_stats32(src, n, res)


def gain32(src, dst, doff, n, gain_q):
    """n 32-bit slots -> int16 at dst[doff:]: ((slot >> 9) * gain_q) >> 15, saturated."""
    if _fast is not None:
        return _fast.gain32(src, dst, doff, n, gain_q)
    return _p_gain32(src, dst, doff, n, gain_q)


class Agc:
    def __init__(self, shift=14, target=_TARGET):
        if not 8 <= shift <= 22:
            raise ValueError("agc: shift must be 8..22, got %r" % (shift,))
        gain = UNITY_Q << (16 - shift) if shift <= 16 else UNITY_Q >> (shift - 16)
        self.gain_q = max(MIN_GAIN_Q, min(MAX_GAIN_Q, gain))  # the AGC's gain
        self.frame_gain_q = self.gain_q  # what the last frame got (the limiter's cut included)
        self.target = target
        self.freeze = False
        self.level = 0  # last frame's mean |slot >> 13|, before any gain
        self.peak = 0  # last frame's peak |slot >> 9|
        self.floor = -1  # noise floor of `level`: its minimum over the last ~1 s
        self._mins = [_NO_MIN] * _BLOCKS  # minimum level of each of the last blocks
        self._block_min = _NO_MIN
        self._block_n = 0
        self._block_i = 0
        self.speech = False  # the last frame adapted the gain
        self.limited = 0  # frames the limiter cut
        self._res = array("i", (0, 0))

    def process(self, raw, dst, n, doff=0):
        """Convert n slots of raw into int16 at dst[doff:]; returns n."""
        stats32(raw, n, self._res)
        peak = self._res[0]
        level = self._res[1]
        self.peak = peak
        self.level = level
        self.speech = self._speech(level)
        if self.speech and not self.freeze:
            self._adapt(level)
        gain = self.gain_q
        if peak > _LIMIT // gain:  # peak * gain would pass the rail (and a small int)
            gain = _LIMIT // peak
            self.limited += 1
        self.frame_gain_q = gain
        return gain32(raw, dst, doff, n, gain)

    def _speech(self, level):
        # Minimum statistics: the floor is the quietest frame of the last 2-3 blocks of 16
        # frames (0.64-0.96 s). Speech pauses between words reach down to it; a steady noise (a
        # fan switched on) is its own minimum within about a second, so it stops counting as
        # speech then instead of pulling the gain up for as long as a slow tracker would take.
        if level < self._block_min:
            self._block_min = level
        self._block_n += 1
        if self._block_n == _BLOCK_FRAMES:
            self._mins[self._block_i] = self._block_min
            self._block_i = self._block_i + 1 if self._block_i < _BLOCKS - 1 else 0
            self._block_min = _NO_MIN
            self._block_n = 0
        floor = self._block_min
        for m in self._mins:
            if m < floor:
                floor = m
        self.floor = floor
        return level > 4 * floor and level > _MIN_LEVEL

    def _adapt(self, level):
        # This frame's output level at the current gain is level * gain / 2048 (level is
        # slot >> 13, the output (slot >> 9) * gain >> 15). Compared by division: the product
        # can pass 2**30, a heap-allocated int on a 32-bit MicroPython.
        gain = self.gain_q
        goal = self.target << 11
        if level > goal // gain:
            # Too loud: the gain that hits the target, a quarter of the way per frame.
            ideal = goal // level
            gain -= (gain - ideal + 3) >> 2
        elif level < (goal - (goal >> 3)) // gain:
            gain += (gain >> 7) + 1
        self.gain_q = MIN_GAIN_Q if gain < MIN_GAIN_Q else (MAX_GAIN_Q if gain > MAX_GAIN_Q
                                                             else gain)
