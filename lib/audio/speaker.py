# The output end of the audio path: an I2S TX bus (built by the board) behind an
# asyncio.StreamWriter, with software volume and mono -> stereo duplication.
#
# Input is always mono int16 at the bus rate. Volume 0..100 maps to a gain in 0.5 dB steps with
# 70 = unity (so the default plays samples unchanged) and 100 = +15 dB; samples that the gain
# pushes past int16 saturate instead of wrapping. Boards whose amplifier sits on a stereo bus
# (two MAX98357A) get each sample on both channels; codec buses clocked at 64 fs (ES8311 with
# MCLK taken from BCLK) get 32-bit slots (`bits=32`, the sample in the top 16 bits).
#
# Nothing is allocated per write in steady state: the scaled/stereo copy goes into one buffer
# sized at construction (`max_samples`), and a write longer than that is sent in pieces.
from micropython import const

import compat
from audio import pcm

_UNITY_VOLUME = const(70)


def volume_gain_q12(volume):
    """Gain (Q12) for a 0..100 volume: 0 mutes, 70 is unity, each step is 0.5 dB."""
    if volume <= 0:
        return 0
    return int(4096 * 10 ** ((volume - _UNITY_VOLUME) * 0.5 / 20) + 0.5)


class Speaker:
    def __init__(self, i2s, rate=16000, channels=1, volume=_UNITY_VOLUME, max_samples=256,
                 bits=16):
        if channels not in (1, 2):
            raise ValueError("speaker: channels must be 1 or 2, got %r" % (channels,))
        if bits not in (16, 32):
            raise ValueError("speaker: bits must be 16 or 32, got %r" % (bits,))
        if bits == 32 and channels == 2:
            raise ValueError("speaker: 32-bit slots are mono only (codec buses)")
        self.i2s = i2s
        self.rate = rate
        self.channels = channels
        self.bits = bits
        self.max_samples = max_samples
        self._writer = compat.stream_writer(i2s)
        self._buf = bytearray(bits // 8 * channels * max_samples)
        self._mv = memoryview(self._buf)
        self._last_len = -1
        self._last_view = None
        self.volume = _UNITY_VOLUME
        self._gain = 4096
        self.tap = None  # tap(buf, samples): each chunk as played, volume applied (echo ref)
        self.set_volume(volume)

    def set_volume(self, volume):
        """Set volume 0..100 (values outside are clamped)."""
        volume = int(volume)
        self.volume = 0 if volume < 0 else (100 if volume > 100 else volume)
        self._gain = volume_gain_q12(self.volume)

    def _view(self, nbytes):
        # The player writes the same chunk size again and again: keep that one slice, so the
        # steady state does not allocate a memoryview per write.
        if nbytes != self._last_len:
            self._last_view = self._mv[:nbytes]
            self._last_len = nbytes
        return self._last_view

    async def write(self, buf, nbytes=-1):
        """Play nbytes (default all) of mono int16 `buf`; returns when the DMA has taken it."""
        if nbytes < 0:
            nbytes = len(buf)
        nbytes &= ~1
        off = 0
        while off < nbytes:
            n = (nbytes - off) >> 1
            if n > self.max_samples:
                n = self.max_samples
            pcm.copy(self._buf, 0, buf, off, 2 * n)
            if self._gain != 4096:
                pcm.scale16(self._buf, n, self._gain)
            if self.tap is not None:
                self.tap(self._buf, n)
            out = 2 * n
            if self.bits == 32:
                out = pcm.s16_to_s32(self._buf, self._buf, n)
            elif self.channels == 2:
                out = pcm.mono_to_stereo16(self._buf, self._buf, n)
            self._writer.write(self._view(out))
            await self._writer.drain()
            off += 2 * n

    def discard(self):
        """Drop audio handed to the writer but not yet taken by the DMA (barge-in), where the
        writer can (the host adapter can; MicroPython's StreamWriter has no public way)."""
        discard = getattr(self._writer, "discard", None)
        if discard is not None:
            discard()

    def deinit(self):
        self.i2s.deinit()
