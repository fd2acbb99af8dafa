# Energy voice activity detector: adaptive noise floor, attack and hangover.
#
# Used for local barge-in hints (the user talks over the bot) and, in push-to-talk mode, for an
# optional client-side end of turn after `silence_ms` of non-speech. It is deliberately simple:
# one mean-absolute-amplitude per frame (audio/pcm.mean_abs16, viper on the device), integer
# arithmetic, no allocation per frame.
#
# - Noise floor: follows the level down quickly (1/8 per frame) and up slowly (1/128 per frame
#   outside speech, 1/1024 in it), so steady noise is learnt in about a second while a sentence
#   does not drag the floor up. It starts at the first frame's level.
# - Speech: `attack` consecutive frames above floor x threshold (threshold_db over the floor,
#   and above min_level) start it; it ends `hangover_ms` after the last loud frame, which
#   bridges the gaps between words.
# Frame accuracy on espeak-ng speech in white noise is measured in tests/test_audio_vad.py and
# reported by tools/bench/bench_audio.py.
from micropython import const

from audio import pcm

_Q = const(16)  # threshold ratio in 1/16ths


class Vad:
    def __init__(self, rate=16000, frame_ms=20, threshold_db=6, hangover_ms=300, attack=2,
                 min_level=60):
        self.frame_ms = frame_ms
        self.frame_samples = rate * frame_ms // 1000
        self._ratio_q = int(_Q * 10 ** (threshold_db / 20) + 0.5)
        self._hang_frames = max(1, hangover_ms // frame_ms)
        self._attack = attack
        self.min_level = min_level
        self.reset()

    def reset(self):
        self.floor = -1  # learnt from the first frame
        self.level = 0
        self.speech = False
        self.started = False  # this frame began speech
        self.ended = False  # this frame ended speech
        self._above = 0
        self._hang = 0
        self._quiet_frames = 0

    def silence_ms(self):
        """How long there has been no speech (for a client-side end of turn)."""
        return self._quiet_frames * self.frame_ms

    def process(self, frame, samples=-1):
        """Feed one frame of int16 PCM; returns True while speech is active."""
        n = self.frame_samples if samples < 0 else samples
        level = pcm.mean_abs16(frame, n)
        self.level = level
        floor = self.floor
        if floor < 0:
            floor = level
        loud = level * _Q > floor * self._ratio_q and level > self.min_level
        if level < floor:
            floor -= (floor - level + 7) >> 3
        elif self.speech or loud:
            # Creep up even in "speech" so a lasting step in noise is learnt (in ~20 s).
            floor += (level - floor + 1023) >> 10
        else:
            floor += (level - floor + 127) >> 7
        self.floor = floor
        self.started = self.ended = False
        if loud:
            self._above += 1
            if self.speech:
                self._hang = self._hang_frames
            elif self._above >= self._attack:
                self.speech = True
                self.started = True
                self._hang = self._hang_frames
        else:
            self._above = 0
            if self.speech:
                self._hang -= 1
                if self._hang <= 0:
                    self.speech = False
                    self.ended = True
        if self.speech:
            self._quiet_frames = 0
        else:
            self._quiet_frames += 1
        return self.speech
