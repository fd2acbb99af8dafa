# A byte ring buffer for the player: fixed storage allocated once, copies in and out by offset
# (audio/pcm.copy) so steady-state use allocates nothing.
#
# Why not micropython.RingIO (v1.24+)? Measured in the MicroPython tier (tests/mp/bench_audio.py,
# one 20 ms cycle = write + read 640 B): RingIO 0.63 us, this ring 722 us, both 0 bytes
# allocated. That gap is the viper copy running as plain Python in the WebAssembly tier; on the
# ESP32 the copy is native (~1280 byte moves per 20 ms, tens of us: well under 1% CPU). What
# decides it is what RingIO lacks and the player needs: writing from an offset of a source
# buffer without a memoryview slice (16 bytes each), a free-space query for back-pressure
# (RingIO reports readable bytes only), an O(1) clear() for barge-in (RingIO would have to be
# drained), and reads of an exact even byte count.
from audio import pcm


class Ring:
    def __init__(self, size):
        if size <= 0:
            raise ValueError("ring: size must be positive")
        self.size = size
        self._buf = bytearray(size)
        self._r = 0  # read position
        self._n = 0  # bytes stored, readable
        self._held = 0  # bytes stored after them, not readable yet
        self.holding = False  # writes are held

    def used(self):
        return self._n

    def free(self):
        return self.size - self._n - self._held

    def held(self):
        return self._held

    def clear(self):
        self._r = 0
        self._n = 0
        self._held = 0

    def commit(self):
        self._n += self._held
        self._held = 0

    def rollback(self):
        self._held = 0

    def write(self, src, n=-1, off=0):
        """Append n bytes of src[off:] (all of src by default); raises if they do not fit."""
        if n < 0:
            n = len(src) - off
        if n > self.free():
            raise OverflowError("ring: %d bytes do not fit in %d free" % (n, self.free()))
        w = self._r + self._n + self._held
        while w >= self.size:
            w -= self.size
        first = self.size - w
        if first > n:
            first = n
        pcm.copy(self._buf, w, src, off, first)
        if n > first:
            pcm.copy(self._buf, 0, src, off + first, n - first)
        if self.holding:
            self._held += n
        else:
            self._n += n
        return n

    def readinto(self, dst, n=-1, off=0):
        """Move up to n bytes (len(dst) - off by default) into dst[off:]; returns the count."""
        if n < 0:
            n = len(dst) - off
        if n > self._n:
            n = self._n
        first = self.size - self._r
        if first > n:
            first = n
        pcm.copy(dst, off, self._buf, self._r, first)
        if n > first:
            pcm.copy(dst, off + first, self._buf, 0, n - first)
        self._r += n
        if self._r >= self.size:
            self._r -= self.size
        self._n -= n
        return n
