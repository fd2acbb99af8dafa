# machine.I2S for the simulator under MicroPython, with the ESP32 port's DMA semantics.
#
# It is an io.IOBase stream, so the app runs its real device path on it: asyncio.StreamReader /
# StreamWriter over the bus, polled through select.poll (ioctl MP_STREAM_POLL), exactly as on
# the board. What is modelled, from ports/esp32/machine_i2s.c:
# - DMA buffers of 256 frames; count = max(ibuf // (256 * dma_frame_bytes), 2); an RX DMA frame
#   is always 32-bit stereo (8 bytes), a TX one is the bus's sample width x channels;
# - blocking until the first poll, then non-blocking ("asyncio mode"), as the port switches;
# - RX: one DMA buffer completes every 256 frames of clock time; a full DMA drops the oldest
#   buffer (counted in `overflows`). The mic file holds the bus's app-side bytes (the host writes
#   them in the slot format, sample 0 at the simulation's t=0): the room plays the WAV from t=0,
#   and the bus hears it from the moment it is created;
# - TX: the DMA plays `rate` frames per second; when it runs dry it outputs zeros and counts
#   `underrun_frames`. Room is freed one whole DMA buffer at a time (TX_DONE). Every frame that
#   reached the pins, silence included, is appended to the speaker file, and each write is logged
#   as "t_us bytes" in the writes file, so the host sees what was heard and when.
# - the room (vi2s.configure(room=...), tools/mpsim/vroom.py, the code the CPython runtime runs
#   too): the TX DMA hands it every frame it plays, silence included, and the RX bus mixes its
#   echo and noise into the mic's PCM16 (the top half of a 32-bit slot) in place.
# No per-frame allocation: both files are streamed through fixed buffers.
import io
import time

import vclock

DMA_FRAMES = 256
_POLL = 3  # MP_STREAM_POLL
_RD = 1
_WR = 4
_ERROR = -1  # any other ioctl: not a file descriptor, not supported
_EPERM = 1
_EINVAL = 22
_EBADF = 9

_config = {"mic": None, "mic_format": None, "speaker": None, "writes": None, "room": None}
buses = {}  # id -> the open bus
seen = []  # every bus ever created, for the end-of-run report


def configure(mic=None, mic_format=None, speaker=None, writes=None, room=None):
    """Files for the buses: mic (read, app-side bytes), speaker and writes (created); room:
    vroom.Room's keyword arguments (None: no echo path, no noise, nothing imported)."""
    if room is not None:
        import vroom

        room = vroom.Room((mic_format or {}).get("rate", 16000), **room)
    _config.update(mic=mic, mic_format=mic_format, speaker=speaker, writes=writes, room=room)


def _check_pin(name, pin):
    if isinstance(pin, bool) or not (isinstance(pin, int) or hasattr(pin, "value")):
        raise TypeError("%s: expected a Pin or a GPIO number" % name)


class I2S(io.IOBase):
    RX = 1
    TX = 2
    MONO = 0
    STEREO = 1

    def __init__(self, id, *, sck, ws, sd, mode, bits, format, rate, ibuf, mck=None):
        if id not in (0, 1):
            raise ValueError("invalid id")
        for name, pin in (("sck", sck), ("ws", ws), ("sd", sd)):
            _check_pin(name, pin)
        if mode not in (self.RX, self.TX):
            raise ValueError("invalid mode")
        if bits not in (16, 32):
            raise ValueError("invalid bits")
        if format not in (self.MONO, self.STEREO):
            raise ValueError("invalid format")
        if rate <= 0 or ibuf <= 0:
            raise ValueError("invalid rate" if rate <= 0 else "invalid ibuf")
        previous = buses.get(id)
        if previous is not None:
            previous.deinit()
        self.id, self.mode, self.bits, self.format, self.rate = id, mode, bits, format, rate
        self.frame_bytes = bits // 8 * (2 if format == self.STEREO else 1)
        dma_frame = 8 if mode == self.RX else self.frame_bytes
        self.dma_frames = max(ibuf // (DMA_FRAMES * dma_frame), 2) * DMA_FRAMES
        self.start_us = vclock.now_us()
        # Frame index on the simulation's timeline where this bus starts.
        self.start_frame = self.start_us * rate // 1_000_000
        self.done = 0  # frames the DMA has moved since start
        self.taken = 0  # RX: frames handed to the app or dropped
        self.overflows = 0
        self.underrun_frames = 0
        self.polled = False
        self.deinited = False
        self._file = None
        self._writes = None
        self._echo_room = _config["room"]
        if mode == self.RX:
            self._open_mic()
        else:
            if self._echo_room is not None:
                self._echo_room.speaker_start(rate, self.start_frame)
            self._ring = bytearray(self.dma_frames * self.frame_bytes)
            self._head = 0  # ring offset of the oldest queued byte
            self._queued = 0  # bytes queued
            self._zeros = bytearray(DMA_FRAMES * self.frame_bytes)
            if _config["speaker"]:
                self._file = open(_config["speaker"], "wb")
            if _config["writes"]:
                self._writes = open(_config["writes"], "w")
        buses[id] = self
        seen.append(self)

    def _open_mic(self):
        fmt = _config["mic_format"]
        if fmt is not None and (fmt["bits"] != self.bits or fmt["channels"] != self.frame_bytes
                                // (self.bits // 8) or fmt["rate"] != self.rate):
            raise ValueError("vi2s: the mic file is %r but the board opened %d-bit x%d at %d Hz"
                             % (fmt, self.bits, self.frame_bytes // (self.bits // 8), self.rate))
        if _config["mic"]:
            self._file = open(_config["mic"], "rb")

    # -- the clock-driven DMA -------------------------------------------------------------

    def _elapsed_frames(self):
        return vclock.now_us() * self.rate // 1_000_000 - self.start_frame

    def _update(self):
        if self.deinited:
            return
        now = self._elapsed_frames()
        if self.mode == self.TX:
            if now > self.done:
                self._play(now - self.done)
                self.done = now
            return
        complete = now // DMA_FRAMES * DMA_FRAMES
        if complete - self.taken > self.dma_frames:
            lost = complete - self.dma_frames - self.taken
            self.taken += lost
            self.overflows += lost // DMA_FRAMES
        self.done = complete

    def _play(self, frames):
        have = min(frames, self._queued // self.frame_bytes)
        nbytes = have * self.frame_bytes
        ring = memoryview(self._ring)
        while nbytes:
            chunk = min(nbytes, len(self._ring) - self._head)
            if self._file is not None:
                self._file.write(ring[self._head:self._head + chunk])
            if self._echo_room is not None:
                self._echo_room.speaker_play(self._ring, self._head, chunk, self.bits,
                                        self.frame_bytes // (self.bits // 8))
            self._head = (self._head + chunk) % len(self._ring)
            self._queued -= chunk
            nbytes -= chunk
        silent = frames - have
        if silent > 0:
            self.underrun_frames += silent
            if self._echo_room is not None:
                self._echo_room.speaker_silence(silent)
            if self._file is not None:
                zeros = memoryview(self._zeros)
                left = silent * self.frame_bytes
                while left:
                    chunk = min(left, len(self._zeros))
                    self._file.write(zeros[:chunk])
                    left -= chunk

    def _room(self):
        buf_bytes = DMA_FRAMES * self.frame_bytes
        free = len(self._ring) - self._queued
        return free // buf_bytes * buf_bytes

    def _check(self, mode):
        if self.deinited:
            raise OSError(_EBADF)
        if self.mode != mode:
            raise OSError(_EPERM)

    def _wait_us(self):
        # Until the next DMA buffer completes (RX) or the oldest queued one is played (TX).
        if self.mode == self.RX:
            target = (self.done // DMA_FRAMES + 1) * DMA_FRAMES
        else:
            queued = self._queued // self.frame_bytes
            target = self.done + (queued % DMA_FRAMES or DMA_FRAMES)
        frames = target - self._elapsed_frames()
        return max(100, frames * 1_000_000 // self.rate)

    # -- the stream protocol --------------------------------------------------------------

    def readinto(self, buf):
        self._check(self.RX)
        if len(buf) % self.frame_bytes:
            raise OSError(_EINVAL)
        view = memoryview(buf)
        got = self._read_now(view)
        while not self.polled and got < len(view):
            time.sleep_us(self._wait_us())  # blocking mode, as before the first poll
            got += self._read_now(view[got:])
        return got if got or not self.polled else None

    def _read_now(self, view):
        self._update()
        frames = min(self.done - self.taken, len(view) // self.frame_bytes)
        if frames <= 0:
            return 0
        nbytes = frames * self.frame_bytes
        got = 0
        if self._file is not None:
            self._file.seek((self.start_frame + self.taken) * self.frame_bytes)
            got = self._file.readinto(view[:nbytes]) or 0
        for i in range(got, nbytes):
            view[i] = 0  # past the end of the WAV: the room is quiet
        if self._echo_room is not None:
            self._through_room(view, frames)
        self.taken += frames
        return nbytes

    def _through_room(self, view, frames):
        # What the speaker played up to now reaches the mic first (the TX DMA catches up).
        for bus in buses.values():
            if bus is not self and bus.mode == self.TX:
                bus._update()
        self._echo_room.mix(view, 2 if self.bits == 32 else 0, self.frame_bytes, frames,
                       self.start_frame + self.taken)

    def write(self, buf):
        self._check(self.TX)
        view = memoryview(buf)
        done = self._write_now(view)
        while not self.polled and done < len(view):
            time.sleep_us(self._wait_us())
            done += self._write_now(view[done:])
        return done if done or not self.polled else None

    def _write_now(self, view):
        self._update()
        n = min(len(view), self._room())
        if n <= 0:
            return 0
        tail = (self._head + self._queued) % len(self._ring)
        first = min(n, len(self._ring) - tail)
        self._ring[tail:tail + first] = view[:first]
        if n > first:
            self._ring[0:n - first] = view[first:n]
        self._queued += n
        if self._writes is not None:
            self._writes.write("%d %d\n" % (vclock.now_us(), n))
        return n

    def ioctl(self, req, arg):
        if req != _POLL:
            return _ERROR
        self.polled = True
        if self.deinited:
            return 0
        self._update()
        ready = 0
        if arg & _RD and self.mode == self.RX and self.done > self.taken:
            ready |= _RD
        if arg & _WR and self.mode == self.TX and self._room() > 0:
            ready |= _WR
        return ready

    def deinit(self):
        if self.deinited:
            return
        self._update()
        self.deinited = True
        for f in (self._file, self._writes):
            if f is not None:
                f.close()
        self._file = self._writes = None
        if buses.get(self.id) is self:
            del buses[self.id]

    def stats(self):
        """What the host needs to place this bus's output on the timeline."""
        return {"id": self.id, "mode": "rx" if self.mode == self.RX else "tx",
                "bits": self.bits, "channels": self.frame_bytes // (self.bits // 8),
                "rate": self.rate, "start_us": self.start_us, "start_frame": self.start_frame,
                "frames": self.done, "underrun_frames": self.underrun_frames,
                "overflows": self.overflows}
