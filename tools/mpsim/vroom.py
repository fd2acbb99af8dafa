# The room between the simulator's speaker and its mic: an echo path and steady noise.
#
# One source for both runtimes: tools/mpsim/vi2s.py imports it inside MicroPython, and
# tools/vhw/i2s.py imports it under CPython (as tools.mpsim.vroom), so the two hear the same
# room. Plain integer Python with no allocation per sample; per mic sample it does one
# interpolation (when the speaker plays), four taps and one noise draw.
#
# The echo is what the speaker pins played: channel 0 of every frame the virtual TX bus put
# out, as PCM16 (after the app's software volume and after the DMA's delay; silence included),
# placed on the simulation's timeline (speaker frame K of the absolute grid sounds at K / rate
# seconds after t=0). It reaches the mic through four fixed taps:
#   direct path      delay_ms            x 1      (0 dB: the level echo_db sets)
#   reflection 1     delay_ms + 11 ms    x 0.32   (-10 dB)
#   reflection 2     delay_ms + 23 ms    x 0.16   (-16 dB)
#   reflection 3     delay_ms + 41 ms    x 0.08   (-22 dB)
# a tail that decays over ~40 ms and adds 0.55 dB of power to an uncorrelated signal.
#
# Level reference: echo_db is the direct path's gain between two PCM16 signals. At 0 dB a
# speaker sample s (the int16 the TX bus put out; the top half of a 32-bit slot) arrives in the
# mic's PCM16 sample (the scale of the --mic WAV, before the board's slot format and the app's
# mic shift) as s; at -6 dB as s x 0.501. The mic's PCM16 is echo + WAV + noise, clipped to
# int16, then put in the board's slot format as the --mic WAV alone is without a room.
# noise_db is the RMS of the steady noise in dBFS of that PCM16 (RMS / 32768): white, the sum
# of two uniform draws of a seeded xorshift32, so every run hears the same noise.
#
# The speaker and the mic may run at different rates: the speaker's output is resampled to the
# mic rate by linear interpolation as it plays, into a ring of the last 0.5 s of mic-rate echo
# reference (the mic reads a DMA buffer at most a few hundred ms after it was heard). One
# speaker bus at a time (the boards have one); a bus that starts later restarts the reference
# with silence before it. Mic samples the reference has not reached yet (no speaker bus) get
# no echo.
from array import array

_TAPS_MS = (0, 11, 23, 41)
_TAPS_Q14 = (16384, 5243, 2621, 1311)  # 1, 0.32, 0.16, 0.08 in Q14
_MAX_DELAY_MS = 200  # direct path + tail + the mic's DMA lag must fit in the ring
_RING_S_DIV = 2  # the ring holds mic_rate // 2 samples: 0.5 s


class Room:
    def __init__(self, mic_rate, echo_db=None, delay_ms=20, noise_db=None, seed=1):
        if echo_db is not None and not 1 <= delay_ms <= _MAX_DELAY_MS:
            raise ValueError("room: echo delay must be 1..%d ms, not %r" % (_MAX_DELAY_MS,
                                                                           delay_ms))
        self.mic_rate = mic_rate
        self.echo_db = echo_db
        self.delay_ms = delay_ms
        self.noise_db = noise_db
        self._n = mic_rate // _RING_S_DIV
        self.late = 0  # mic samples whose echo had already left the ring (a harness bug)
        self._gains = ()
        self._lags = ()
        if echo_db is not None:
            g = 10 ** (echo_db / 20)
            self._gains = tuple(int(g * q + 0.5) for q in _TAPS_Q14)
            self._lags = tuple(int((delay_ms + t) * mic_rate / 1000 + 0.5) for t in _TAPS_MS)
            self._hist = array("h", [0] * self._n)  # mic-rate echo reference, by m % n
        self._next_m = 0  # first mic index the reference has no value for yet
        self._spk_rate = 0
        self._spk_next = 0  # absolute index of the next speaker sample to arrive
        self._prev = 0  # the speaker sample before it
        # Noise: amplitude A of each uniform so that the sum of two has the RMS asked for
        # (var = 2 A^2 / 3), in Q15 of a draw in [-32768, 32767].
        self._noise_amp = 0
        if noise_db is not None:
            rms = 32768 * 10 ** (noise_db / 20)
            self._noise_amp = int(rms * 1.2247449 + 0.5)  # sqrt(3 / 2)
        self._x = (seed * 2654435761 & 0xFFFFFFFF) or 1

    # -- the speaker side (called by the TX bus as its DMA plays) --------------------------

    def speaker_start(self, rate, abs_frame):
        """A TX bus starts: its frame 0 sounds at absolute speaker frame abs_frame."""
        if not self._gains:
            return
        self._spk_rate = rate
        self._spk_next = abs_frame
        self._prev = 0  # quiet before the bus: the first pair interpolates from silence
        mic = self.mic_rate
        self._zero_until(-(-(abs_frame - 1) * mic // rate))

    def _zero_until(self, m):
        hist, n = self._hist, self._n
        nm = self._next_m
        if m - nm > n:
            nm = m - n
        while nm < m:
            hist[nm % n] = 0
            nm += 1
        if nm > self._next_m:
            self._next_m = nm

    def _push(self, s):
        # Speaker sample s at absolute index K: every mic index whose position lies between
        # K - 1 and K gets the line between the two samples.
        k = self._spk_next
        rate, mic = self._spk_rate, self.mic_rate
        prev = self._prev
        nm = self._next_m
        hist, n = self._hist, self._n
        base = (k - 1) * mic
        while nm * rate < k * mic:
            num = nm * rate - base
            if num >= 0:
                hist[nm % n] = prev + (s - prev) * num // mic
            nm += 1
        self._next_m = nm
        self._prev = s
        self._spk_next = k + 1

    def speaker_play(self, buf, start, nbytes, bits, channels):
        """Frames the pins put out: nbytes of buf from start, bits-wide slots, channel 0."""
        if not self._gains or not self._spk_rate:
            return
        step = bits // 8 * channels
        top = start + (2 if bits == 32 else 0)  # a 32-bit slot carries the sample on top
        end = start + nbytes
        push = self._push
        while top < end:
            v = buf[top] | (buf[top + 1] << 8)
            push(v - 65536 if v & 0x8000 else v)
            top += step

    def speaker_silence(self, frames):
        """The DMA ran dry for `frames` frames: the pins put out zeros."""
        if not self._gains or not self._spk_rate or frames <= 0:
            return
        self._push(0)
        frames -= 1
        if frames > 0:
            end = self._spk_next + frames
            # All zeros up to end - 1: the mic indices before that position are silent.
            self._zero_until(-(-(end - 1) * self.mic_rate // self._spk_rate))
            self._spk_next = end
            self._prev = 0

    # -- the mic side (called by the RX bus as the app takes samples) -------------------------

    def mix(self, buf, offset, stride, count, m0):
        """Add the room to `count` PCM16 LE mic samples at buf[offset + j * stride], sample j
        heard at absolute mic index m0 + j; clipped to int16."""
        gains, lags = self._gains, self._lags
        amp = self._noise_amp
        if not gains and not amp:
            return
        hist, n = self._hist if gains else None, self._n
        lo, hi = self._next_m - n, self._next_m
        checked = bool(gains) and not (m0 - lags[-1] >= lo and m0 + count - 1 - lags[0] < hi)
        x = self._x
        o = offset
        m = m0
        for _ in range(count):
            v = buf[o] | (buf[o + 1] << 8)
            if v & 0x8000:
                v -= 65536
            if gains:
                e = 0
                for t in range(4):
                    i = m - lags[t]
                    if checked:
                        if i >= hi:
                            continue
                        if i < lo:
                            self.late += 1
                            continue
                    e += gains[t] * hist[i % n]
                v += e >> 14
            if amp:
                x ^= (x << 13) & 0xFFFFFFFF
                x ^= x >> 17
                x ^= (x << 5) & 0xFFFFFFFF
                v += (((x & 0xFFFF) + (x >> 16) - 65536) * amp) >> 15
            if v > 32767:
                v = 32767
            elif v < -32768:
                v = -32768
            buf[o] = v & 0xFF
            buf[o + 1] = (v >> 8) & 0xFF
            o += stride
            m += 1
        self._x = x
