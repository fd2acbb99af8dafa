# The input end of the audio path: an I2S RX bus (built by the board) read through
# asyncio.StreamReader into the caller's 20 ms PCM16 frame.
#
# INMP441-style mics deliver 24-bit samples left-justified in 32-bit slots. They become int16 by
# an arithmetic shift (`shift`, 16 keeps the top 16 bits; 14 adds 12 dB for a quiet MEMS mic)
# and an optional `gain`, with saturation: MicroPython's I2S.shift() wraps a loud sample around
# to the opposite sign, which is a click the server's ASR hears. 16-bit mics pass straight
# through (gain still applies).
# With an AGC (audio/agc.py, 32-bit slots only) the fixed shift and gain give way to it: a
# frame's slots are gathered first (the limiter needs the frame's peak before converting), then
# converted with the gain on the 24-bit data. `level` is the frame's mean |slot >> 13| before
# any gain, for the echo detector (audio/echo.py), which must not see the AGC's moves.
#
# The port's readinto returns whatever the DMA holds (256-frame buffers), which rarely matches a
# frame, so slots are read into one staging buffer and converted by offset: no slicing, no
# memoryview, nothing allocated per frame but the coroutine objects MicroPython creates for every
# `await` (asserted in tests/mp/test_audio_mic.py).
import compat
from audio import pcm


class Mic:
    def __init__(self, i2s, rate=16000, frame_ms=20, slot_bits=32, shift=16, gain=1.0,
                 agc=None):
        if slot_bits not in (16, 32):
            raise ValueError("mic: slot_bits must be 16 or 32, got %r" % (slot_bits,))
        if not 1 / 256 <= gain <= 4:
            raise ValueError("mic: gain must be between 1/256 and 4, got %r" % (gain,))
        self.i2s = i2s
        self.rate = rate
        self.frame_ms = frame_ms
        self.frame_samples = rate * frame_ms // 1000
        self.frame_bytes = 2 * self.frame_samples
        self.slot_bits = slot_bits
        self._slot = slot_bits // 8
        self.shift = shift
        self._gain_q8 = int(gain * 256 + 0.5)
        self._gain_q12 = int(gain * 4096 + 0.5)
        if slot_bits == 32:
            pcm.s32_to_s16(bytearray(4), bytearray(2), 1, shift, self._gain_q8)  # checks args
        self._raw = bytearray(self.frame_samples * self._slot)
        self.agc = agc if slot_bits == 32 else None
        # The frame's slots, gathered for the AGC (1.3 KB at 16 kHz: the price of a limiter
        # without look-ahead delay).
        self._frame_raw = bytearray(len(self._raw)) if self.agc is not None else None
        self.level = 0
        self._off = 0  # read position in _raw
        self._left = 0  # bytes of _raw not yet converted
        self._reader = compat.stream_reader(i2s)
        self.frames = 0

    async def read_frame(self, buf):
        """Fill buf with one frame of mono PCM16; returns its length in bytes."""
        need = self.frame_bytes
        if len(buf) < need:
            raise ValueError("mic: frame buffer holds %d bytes, a %d ms frame needs %d"
                             % (len(buf), self.frame_ms, need))
        slot = self._slot
        got = 0
        while got < need:
            if self._left == 0:
                self._left = await self._reader.readinto(self._raw)
                self._off = 0
            n = self._left // slot
            if n > (need - got) >> 1:
                n = (need - got) >> 1
            if self.agc is not None:
                pcm.copy(self._frame_raw, 2 * got, self._raw, self._off, 4 * n)
            elif slot == 4:
                pcm.s32_to_s16(self._raw, buf, n, self.shift, self._gain_q8, self._off, got)
            else:
                pcm.copy(buf, got, self._raw, self._off, 2 * n)
            self._off += n * slot
            self._left -= n * slot
            got += 2 * n
        if self.agc is not None:
            self.agc.process(self._frame_raw, buf, self.frame_samples)
            self.level = self.agc.level
        else:
            if slot == 2 and self._gain_q12 != 4096:
                pcm.scale16(buf, self.frame_samples, self._gain_q12)
            self.level = self._fixed_level(buf)
        self.frames += 1
        return need

    def _fixed_level(self, buf):
        # mean |sample| back in agc.level's unit (slot >> 13), the fixed gain taken out.
        # (Shifts past 20 bits would pass a small int; no mic needs them, the level saturates.)
        mean = pcm.mean_abs16(buf, self.frame_samples) * 256 // self._gain_q8
        bits = self.shift if self.slot_bits == 32 else 16
        if bits < 13:
            return mean >> (13 - bits)
        return mean << (bits - 13) if bits <= 20 else mean << 7

    def deinit(self):
        self.i2s.deinit()
