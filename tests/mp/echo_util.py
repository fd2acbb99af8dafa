# A synthetic room for the echo guard and the AGC (audio/echo.py, audio/agc.py), plain Python
# that runs under CPython (tests/test_audio_echo.py) and MicroPython (tests/mp/test_audio_
# frontend.py) alike: no numpy, no struct.
#
# 8 kHz keeps the WebAssembly tier quick; neither the guard nor the AGC depends on the rate.
# - The bot: seeded noise shaped into "syllables" (180 ms on, 70 ms at -30 dB, each syllable at
#   its own level within 10 dB): level changes as steep as speech has.
# - The speaker's tap sees each 4 ms chunk when it is written; the mic hears it DMA_MS + the
#   acoustic delay later, times the echo gain, plus a reverberant second copy 40 ms later and
#   10 dB down, plus a -70 dBFS noise floor.
# - The user: another seeded voice with its own rhythm, from user_at_ms on, at user_db relative
#   to the echo's level.
# A clock object stands in for `time` inside audio/echo.py (ticks_ms, ticks_diff, ticks_add).
from array import array

RATE = 8000
FRAME = 160  # 20 ms
CHUNK = 32  # 4 ms: what the player hands the speaker per write
DMA_MS = 32
_HISTORY = 2048  # reference samples kept (256 ms: more than DMA + delay + tail)


class Clock:
    def __init__(self):
        self.ms = 0

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        return a - b

    def ticks_add(self, a, b):
        return a + b


def db(x):
    return 10 ** (x / 20)


class Voice:
    # Seeded noise with a syllable envelope; sample(i) is deterministic in i.
    def __init__(self, seed, peak, on_ms=180, off_ms=70):
        self.peak = peak
        self.period = (on_ms + off_ms) * RATE // 1000
        self.on = on_ms * RATE // 1000
        self._state = (seed * 2654435761) & 0xFFFFFFFF or 1
        self._levels = [db(-10 * (self._noise() + 1) / 2) for _ in range(64)]

    def _noise(self):
        # xorshift32: the same sequence in both interpreters
        x = self._state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._state = x
        return ((x & 0xFFFF) - 32768) / 32768

    def block(self, start, n):
        """n samples from sample index start (consecutive calls must be consecutive)."""
        out = []
        for i in range(start, start + n):
            k = i // self.period
            env = self._levels[k % len(self._levels)]
            if i % self.period >= self.on:
                env *= 0.03
            out.append(self.peak * env * self._noise())
        return out


class Room:
    def __init__(self, echo_db=-6, delay_ms=30, user_db=None, user_at_ms=3000, bot_peak=6000,
                 bot_until_ms=None, seed=1):
        self.bot = Voice(seed, bot_peak)
        self.user = Voice(seed + 100, bot_peak * db(echo_db) * db(user_db or 0), 220, 90)
        self.echo_gain = db(echo_db)
        self.lag = (DMA_MS + delay_ms) * RATE // 1000
        self.tail = self.lag + 40 * RATE // 1000
        self.user_db = user_db
        self.user_from = user_at_ms * RATE // 1000
        self.bot_until = None if bot_until_ms is None else bot_until_ms * RATE // 1000
        self.played = array("h", [0] * _HISTORY)  # the last _HISTORY reference samples
        self._played_to = 0  # sample time of the next reference sample
        self._noise = Voice(seed + 200, 32767 * db(-70), 1000, 0)
        self._user_at = 0

    def speaker_chunk(self, start):
        """The next CHUNK of the bot (zeros once it has stopped) as int16 LE bytes."""
        if self.bot_until is not None and start >= self.bot_until:
            vals = [0] * CHUNK
        else:
            vals = [int(v) for v in self.bot.block(start, CHUNK)]
        for i, v in enumerate(vals):
            self.played[(start + i) % _HISTORY] = 32767 if v > 32767 else max(-32768, v)
        self._played_to = start + CHUNK
        return to_bytes(vals)

    def mic_frame(self, start):
        """FRAME mic samples (floats, int16 scale at the slot's top 16 bits) from start."""
        out = self._noise.block(start, FRAME)
        g = self.echo_gain
        for i in range(FRAME):
            t = start + i
            a = t - self.lag
            b = t - self.tail
            if 0 <= a < self._played_to:
                out[i] += g * self.played[a % _HISTORY]
            if 0 <= b < self._played_to:
                out[i] += 0.3 * g * self.played[b % _HISTORY]
        if self.user_db is not None and start + FRAME > self.user_from:
            voice = self.user.block(self._user_at, FRAME)
            self._user_at += FRAME
            for i in range(FRAME):
                if start + i >= self.user_from:
                    out[i] += voice[i]
        return out


def to_bytes(vals):
    buf = bytearray(2 * len(vals))
    for i, v in enumerate(vals):
        v = int(v)
        v = 32767 if v > 32767 else (-32768 if v < -32768 else v)
        buf[2 * i] = v & 0xFF
        buf[2 * i + 1] = (v >> 8) & 0xFF
    return buf


def level(frame):
    """Mic level in audio/mic.Mic.level's unit (slot >> 13) of int16-scale samples."""
    total = 0
    for v in frame:
        total += abs(int(v))
    return total * 8 // len(frame)


def run(guard, clock, room, ms):
    """Drive guard through ms of the room; per frame (t_ms, level, mute, barge_in, active)."""
    rows = []
    t = 0
    per_frame = FRAME // CHUNK
    while t < ms * RATE // 1000:
        for k in range(per_frame):
            s = t + k * CHUNK
            clock.ms = s * 1000 // RATE
            guard.reference(room.speaker_chunk(s), CHUNK)
        frame = room.mic_frame(t)
        t += FRAME
        clock.ms = t * 1000 // RATE
        lv = level(frame)
        guard.process(lv)
        rows.append((clock.ms, lv, guard.mute, guard.barge_in, guard.active))
    return rows


def dbfs(lv):
    """A Mic.level as dBFS of its mean |sample| (int16 full scale = level 262144)."""
    import math

    return 20 * math.log10(max(lv, 1) / 262144)


def slots(vals):
    """Samples at 32-bit slot scale (full scale 2**31) -> INMP441-style slots: 24-bit data
    left-justified, the low byte zero."""
    buf = bytearray(4 * len(vals))
    for i, v in enumerate(vals):
        v = int(v)
        v = 2147483392 if v > 2147483392 else (-2147483648 if v < -2147483648 else v)
        v &= 0xFFFFFF00
        buf[4 * i] = 0
        buf[4 * i + 1] = (v >> 8) & 0xFF
        buf[4 * i + 2] = (v >> 16) & 0xFF
        buf[4 * i + 3] = (v >> 24) & 0xFF
    return buf


def s16(buf, n):
    """n int16 LE samples of buf as ints."""
    out = []
    for i in range(n):
        v = buf[2 * i] | (buf[2 * i + 1] << 8)
        out.append(v - 0x10000 if v & 0x8000 else v)
    return out


def agc_run(agc, voice, frames, peak_dbfs, noise_dbfs=-80, freeze=False, start=0):
    """Feed frames of voice (peak at peak_dbfs of the slot's full scale; None: noise only)
    through agc; returns (rail samples, per-frame output mean |x|, gains)."""
    noise = Voice(7, 2147483648 * db(noise_dbfs), 1000, 0)
    out = bytearray(2 * FRAME)
    rails = 0
    means = []
    gains = []
    scale = 0 if peak_dbfs is None else 2147483648 * db(peak_dbfs) / voice.peak
    for f in range(frames):
        s = start + f * FRAME
        v = voice.block(s, FRAME)
        nz = noise.block(s, FRAME)
        raw = slots([v[i] * scale + nz[i] for i in range(FRAME)])
        agc.freeze = freeze
        agc.process(raw, out, FRAME)
        vals = s16(out, FRAME)
        total = 0
        for x in vals:
            if x >= 32767 or x <= -32768:
                rails += 1
            total += abs(x)
        means.append(total // FRAME)
        gains.append(agc.gain_q)
    return rails, means, gains
