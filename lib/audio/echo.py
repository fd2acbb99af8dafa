# Echo-aware barge-in: tells "the room hears the bot" from "the user talks over the bot" by
# comparing each mic frame with what the speaker played (the reference), level against level.
#
#   guard = EchoGuard()
#   speaker.tap = guard.reference        # every chunk the speaker hands to its DMA
#   guard.process(mic.level)             # per 20 ms mic frame, then read .mute / .barge_in
#
# How (integer arithmetic, fixed lists, nothing allocated per call):
# - Reference envelope: each speaker chunk's mean |sample| (audio/pcm.mean_abs16, viper) goes
#   into one of 16 slots of 10 ms, by the time it was written. A mic frame is compared with the
#   loudest slot of the last 160 ms: that window covers the speaker's DMA (<= 36 ms), an unknown
#   acoustic delay (5-60 ms), the frame itself and the mic's DMA, so no alignment is needed. The
#   envelope then decays 1.5 dB per frame, not at once: the room's reverberation outlives the
#   window.
# - Echo return (erl): mic level per reference level, learnt on frames where only the bot
#   plays. The first LEARN frames of the first reply take the largest ratio seen and detect
#   nothing; after that the estimate follows the ratio up quickly (a quarter per frame; only
#   ratios within 3.5 dB of it, so a user's voice that rises slowly is not learnt as echo) and
#   down slowly (1/64 per frame), bounded, so it sits on the upper envelope of the echo: the
#   window's maximum overstates the reference at word ends, which must not drag it down.
# - Double talk: the mic is above margin x (predicted echo + noise floor) and above an absolute
#   floor for `confirm` frames in a row (60 ms by default). `barge_in` is True on the frame that
#   decides; double talk then holds until the mic has been below the line for HANG frames.
# - `mute`: the reference is active and there is no double talk. The uplink then sends silence,
#   so the cloud's VAD hears nothing of the bot; the user's voice over the bot goes up unmuted.
# The noise floor is the mic level's slow minimum (a fan does not count as the user).
import time

from micropython import const

from audio import pcm

_SLOT_MS = const(10)
_SLOTS = const(16)
_DECAY_Q8 = const(215)  # envelope * 215/256 per frame: -1.5 dB
_REF_FLOOR = const(8)  # int16 mean |sample| below which the speaker is silent (~-72 dBFS)
_MIN_LEVEL = const(80)  # mic level (slot >> 13) below which nothing is the user (~-70 dBFS)
_ERL_MIN = const(4)  # Q8 mic level per reference level: -36 dB in these units
_ERL_MAX = const(16384)  # +36 dB; keeps envelope * erl below 2**30 (small ints only)
_LEARN = const(10)  # frames of the first reply that only learn
_HANG = const(10)  # frames below the line that end double talk (200 ms: gaps between words)


class EchoGuard:
    def __init__(self, margin_db=6, confirm=3):
        if confirm < 1:
            raise ValueError("echo: confirm must be >= 1 frame, got %r" % (confirm,))
        self._margin_q4 = int(16 * 10 ** (margin_db / 20) + 0.5)
        self.confirm = confirm
        self._slots = [0] * _SLOTS  # the loudest chunk written in each 10 ms slot
        self._slot = 0  # index of the current slot
        self._slot_ms = time.ticks_ms()  # when the current slot began
        self.envelope = 0  # reference level a frame is compared with
        self.erl_q = -1  # echo return, Q8; -1: not learnt yet
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

    def process(self, level):
        """One mic frame's level (audio/mic.Mic.level); sets mute, barge_in, double_talk."""
        self._advance(time.ticks_ms())
        ref = 0
        for v in self._slots:
            if v > ref:
                ref = v
        env = (self.envelope * _DECAY_Q8) >> 8
        env = ref if ref > env else env
        self.envelope = env
        self._track_noise(level)
        self.barge_in = False
        self.active = env > _REF_FLOOR
        if not self.active:
            self.double_talk = False
            self._above = 0
            self.mute = False
            return
        noise = self.noise
        if self.erl_q < 0 or self._learn > 0:
            # First bot audio ever: learn the echo return, detect nothing yet.
            self._learn -= 1
            ratio = ((level - noise) << 8) // env if level > noise else 0
            if ratio > self.erl_q:
                self.erl_q = ratio
            self._clamp_erl()
            self._mute()
            return
        echo = (env * self.erl_q) >> 8
        loud = level > _MIN_LEVEL and (level << 4) > (echo + noise) * self._margin_q4
        if loud:
            self._above += 1
            self._below = 0
            if self._above >= self.confirm and not self.double_talk:
                self.double_talk = True
                self.barge_in = True
                self.barge_ins += 1
        else:
            self._above = 0
            if self.double_talk:
                self._below += 1
                if self._below >= _HANG:
                    self.double_talk = False
            elif level > 2 * noise:
                self._adapt(((level - noise) << 8) // env)
        if self.double_talk:
            self.mute = False
        else:
            self._mute()

    def _mute(self):
        self.mute = True
        self.frames_muted += 1

    def _adapt(self, ratio):
        erl = self.erl_q
        if ratio > erl + (erl >> 1):
            return  # 3.5 dB over the estimate: maybe the user's voice rising; not learnt
        if ratio > erl:
            erl += (ratio - erl + 3) >> 2
        else:
            erl -= (erl - ratio + 63) >> 6
        self.erl_q = erl
        self._clamp_erl()

    def _clamp_erl(self):
        erl = self.erl_q
        self.erl_q = _ERL_MIN if erl < _ERL_MIN else (_ERL_MAX if erl > _ERL_MAX else erl)

    def _track_noise(self, level):
        floor = self.noise
        if floor < 0:
            floor = level
        if level < floor:
            floor -= (floor - level + 7) >> 3
        elif not self.active:
            floor += (level - floor + 127) >> 7
        else:
            floor += (level - floor + 1023) >> 10  # the bot's echo must not raise it much
        self.noise = floor
