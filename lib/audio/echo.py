# Echo-aware barge-in: tells "the room hears the bot" from "the user talks over the bot" by
# comparing each mic frame with what the speaker played (the reference), level against level.
#
#   guard = EchoGuard()
#   speaker.tap = guard.reference        # every chunk the speaker hands to its DMA
#   guard.process(mic.level)             # per 20 ms mic frame, then read .mute / .barge_in
#
# How (integer arithmetic, fixed lists, nothing allocated per call):
# - Reference: each speaker chunk's mean |sample| (audio/pcm.mean_abs16, viper) goes into one
#   of 32 slots of 5 ms, by the time it was written. The echo of a chunk reaches the mic after
#   the speaker's DMA (<= 36 ms), an unknown acoustic delay (5-60 ms) and the mic's own DMA, so
#   a frame is compared with the reference at each lag of 0..120 ms in 5 ms steps, each the
#   mean of the 4 slots (20 ms) the frame would hear at that lag, or that lag's previous value
#   1.5 dB down if louder: the room's reverberation outlives the span. A frame's time is its
#   place on the mic's sample clock (frames are 20 ms of samples each), not when the DMA
#   handed it over, which jitters by a DMA buffer (16 ms) or more on a busy CPU: alignment to
#   5 ms is what keeps the prediction tight. `active` (the bot may be in this frame): any
#   lag's reference is above the speaker's silence.
# - Echo return per lag (erl): mic level per reference level, learnt on frames where only the
#   bot plays, as an upper envelope: the first LEARN frames of the first reply take the largest
#   ratio seen and detect nothing; after that each lag's estimate follows its ratio up quickly
#   (a quarter per frame; ratios more than 3.5 dB over it only by 1/128, so a user's voice that
#   rises slowly is not learnt as echo) and down very slowly (1/1024 per frame), bounded. The
#   predicted echo uses the lag with the smallest estimate: the aligned one, whose reference
#   explains the mic best (a misaligned lag must also cover echo its reference was quiet for).
#   In the simulator's room, on real speech, the echo sits 6-7 dB under the prediction in the
#   median frame and at most ~3.5 dB over it (with one 160 ms maximum and the time a frame was
#   read: ~9 dB under, up to 4.5 over), which is what makes a user 6 dB over the echo audible
#   within a few frames. The kernels are audio/echo_viper.py.
# - Double talk: the mic is above margin x (predicted echo + noise floor) and above an absolute
#   floor for `confirm` frames more than it was under it, counted from the first (60 ms at the
#   soonest). `barge_in` is True on the frame that
#   decides; double talk then holds until the mic has been below the line for HANG frames.
# - `mute`: the reference is active and there is no double talk. The uplink then sends silence,
#   so the cloud's VAD hears nothing of the bot; the user's voice over the bot goes up unmuted.
# The noise floor is the mic level's slow minimum (a fan does not count as the user).
import time
from array import array

from micropython import const

from audio import pcm

try:
    from audio import echo_viper as _fast
except (ImportError, SyntaxError, ValueError, NotImplementedError):
    _fast = None

_SLOT_MS = const(5)
_SLOTS = const(32)  # 160 ms (the kernels' ring mask is 31)
_DECAY_Q8 = const(215)  # envelope * 215/256 per frame: -1.5 dB
_REF_FLOOR = const(8)  # int16 mean |sample| below which the speaker is silent (~-72 dBFS)
_MIN_LEVEL = const(80)  # mic level (slot >> 13) below which nothing is the user (~-70 dBFS)
_ERL_MIN = const(4)  # Q8 mic level per reference level: -36 dB in these units
_ERL_MAX = const(16384)  # +36 dB; keeps envelope * erl below 2**30 (small ints only)
_LEARN = const(10)  # frames of the first reply that only learn
_HANG = const(10)  # frames below the line that end double talk (200 ms: gaps between words)
_LAGS = const(25)  # lags of 0..24 slots (0..120 ms) ...
_WIDTH = const(4)  # ... each the mean of 4 slots (the frame's 20 ms): back to 140 ms
_LATE_MS = const(200)  # a frame read this late after its capture: the clock is resynced
# The kernels' constant arguments, for tests (const names are not module attributes on a board).
PARAMS = (_LAGS, _WIDTH, _DECAY_Q8, _REF_FLOOR, _ERL_MIN, _ERL_MAX)


def _p_spans(slots, cur, out, nlags, width, decay_q8):
    top = 0
    for k in range(nlags):
        v = sum(slots[(cur - k - j) & 31] for j in range(width)) // width
        out[k] = max(v, (out[k] * decay_q8) >> 8)
        top = max(top, out[k])
    return top


def _p_tightest(erls, nlags):
    best = 0
    for k in range(1, nlags):
        if erls[k] < erls[best]:
            best = k
    return best


def _p_learn(erls, sp, nlags, num, floor, lo, hi, first):
    for k in range(nlags):
        if sp[k] > floor:
            ratio = min(hi, max(lo, num // sp[k]))
            v = erls[k]
            if first:
                v = max(v, ratio)
            elif ratio > v + (v >> 1):
                v += (ratio - v + 127) >> 7
            elif ratio > v:
                v += (ratio - v + 3) >> 2
            else:
                v -= (v - ratio + 1023) >> 10
            erls[k] = min(hi, max(lo, v))
    return nlags


def use_kernel(name):
    """Select "viper" or "portable" kernels (tests compare the two)."""
    global _fast
    if name == "portable":
        _fast = None
    else:
        from audio import echo_viper

        _fast = echo_viper


class EchoGuard:
    def __init__(self, margin_db=6, confirm=3, frame_ms=20):
        if confirm < 1:
            raise ValueError("echo: confirm must be >= 1 frame, got %r" % (confirm,))
        self._margin_q4 = int(16 * 10 ** (margin_db / 20) + 0.5)
        self.confirm = confirm
        self._slots = array("i", [0] * _SLOTS)  # the loudest chunk written in each 5 ms slot
        self.frame_ms = frame_ms
        self._frame_at = None  # ticks_ms at the end of the last frame, by the mic's sample clock
        self._slot = 0  # index of the current slot
        self._slot_ms = time.ticks_ms()  # when the current slot began
        self._spans = array("i", [0] * _LAGS)  # this frame's reference at each lag
        self._erls = array("i", [_ERL_MIN] * _LAGS)  # echo return per lag, Q8
        self.envelope = 0  # the loudest lag's reference: is the bot in the room?
        self.reference_level = 0  # the aligned lag's reference
        self.lag = 0  # the aligned lag, in 5 ms slots
        self.erl_q = -1  # the aligned lag's echo return, Q8; -1: not learnt yet
        self._learn = _LEARN
        self.noise = -1  # mic noise floor, learnt from the first frame
        self.active = False  # the bot's sound may be in this frame
        self.double_talk = False
        self.barge_in = False  # this frame decided double talk
        self.mute = False
        self._above = 0
        self._below = 0
        self.frames_muted = 0
        self.barge_ins = 0

    def _advance(self, now):
        # Move the slot ring to `now`, emptying the slots that passed (at most all 16).
        steps = time.ticks_diff(now, self._slot_ms) // _SLOT_MS
        if steps <= 0:
            return
        slots = self._slots
        i = self._slot
        k = steps if steps < _SLOTS else _SLOTS
        while k > 0:
            i = i + 1 if i < _SLOTS - 1 else 0
            slots[i] = 0
            k -= 1
        self._slot = i
        if steps < _SLOTS:
            self._slot_ms = time.ticks_add(self._slot_ms, steps * _SLOT_MS)
        else:
            self._slot_ms = now

    def reference(self, buf, samples):
        """The speaker's tap: one chunk of mono int16 as it goes to the DMA (volume applied)."""
        level = pcm.mean_abs16(buf, samples)
        self._advance(time.ticks_ms())
        if level > self._slots[self._slot]:
            self._slots[self._slot] = level

    def _frame_slot(self, now):
        # The slot where this frame ends, by the mic's sample clock: frames are frame_ms of
        # samples each, so the capture times are evenly spaced however unevenly the DMA hands
        # them over (by 256-sample buffers, or late on a busy CPU). The clock's offset from the
        # true capture time is a constant the lags absorb. Resynced when a frame would end in
        # the future or has been waiting too long (samples were lost).
        at = self._frame_at
        at = now if at is None else time.ticks_add(at, self.frame_ms)
        late = time.ticks_diff(now, at)
        if late < 0 or late > _LATE_MS:
            at = now
            late = 0
        self._frame_at = at
        back = late // _SLOT_MS
        return self._slot - (back if back < _SLOTS else _SLOTS - 1)

    def process(self, level):
        """One mic frame's level (audio/mic.Mic.level); sets mute, barge_in, double_talk."""
        now = time.ticks_ms()
        self._advance(now)
        cur = self._frame_slot(now)
        fast = _fast
        if fast is not None:
            top = fast.spans(self._slots, cur, self._spans, _LAGS, _WIDTH, _DECAY_Q8)
        else:
            top = _p_spans(self._slots, cur, self._spans, _LAGS, _WIDTH, _DECAY_Q8)
        self.envelope = top
        self._track_noise(level)
        self.barge_in = False
        self.active = self.envelope > _REF_FLOOR
        if not self.active:
            self.double_talk = False
            self._above = 0
            self.mute = False
            return
        noise = self.noise
        num = ((level - noise) << 8) if level > noise else 0
        if self._learn > 0:
            # First bot audio ever: learn the echo return at every lag, detect nothing yet.
            self._learn -= 1
            self._learn_lags(num, 1)
            self._mute()
            return
        lag = fast.tightest(self._erls, _LAGS) if fast is not None else _p_tightest(
            self._erls, _LAGS)
        self.lag = lag
        self.erl_q = self._erls[lag]
        ref = self._spans[lag]
        self.reference_level = ref
        echo = (ref * self.erl_q) >> 8
        loud = level > _MIN_LEVEL and (level << 4) > (echo + noise) * self._margin_q4
        if loud:
            self._above += 1
            self._below = 0
            if self._above >= self.confirm and not self.double_talk:
                self.double_talk = True
                self.barge_in = True
                self.barge_ins += 1
        else:
            # One frame under the line (the bot loud in it too) takes one back, not all: the
            # user's words are heard through the bot's syllables. While any count stands,
            # nothing is learnt: it may be the user.
            if self._above > 0:
                self._above -= 1
            if self.double_talk:
                self._below += 1
                if self._below >= _HANG:
                    self.double_talk = False
            elif level > 2 * noise and self._above == 0:
                self._learn_lags(num, 0)
        if self.double_talk:
            self.mute = False
        else:
            self._mute()

    def _learn_lags(self, num, first):
        if _fast is not None:
            _fast.learn(self._erls, self._spans, _LAGS, num, _REF_FLOOR, _ERL_MIN, _ERL_MAX, first)
        else:
            _p_learn(self._erls, self._spans, _LAGS, num, _REF_FLOOR, _ERL_MIN, _ERL_MAX, first)

    def _mute(self):
        self.mute = True
        self.frames_muted += 1

    def _track_noise(self, level):
        floor = self.noise
        if floor < 0:
            floor = level
        if level < floor:
            floor -= (floor - level + 7) >> 3
        elif not self.active:
            floor += (level - floor + 127) >> 7  # (while the bot plays, only down)
        self.noise = floor
