"""A `machine.I2S` stand-in with the ESP32 port's signature, checks and DMA buffer semantics.

    I2S = make_i2s(clock, sources={0: PcmSource(pcm)})
    mic = I2S(0, sck=Pin(5), ws=Pin(4), sd=Pin(6), mode=I2S.RX, bits=32, format=I2S.MONO,
              rate=16000, ibuf=8192)

What is modelled, from MicroPython's ports/esp32/machine_i2s.c:
- the constructor: keyword-only sck/ws/sd/mode/bits/format/rate/ibuf (+ optional mck), id 0..1,
  "invalid mode/bits/format/id" ValueErrors, TypeError on unknown or missing keywords;
- DMA: buffers of 256 I2S frames; count = max(ibuf // (256 * dma_frame_bytes), 2), where a DMA
  frame is the TX sample width x channels, and always 32-bit stereo for RX. `dma_ms` is how much
  audio the DMA holds (what can still be heard after the app stops writing);
- RX: the mic (a PcmSource, mono PCM16) fills one DMA buffer every 256 frames of clock time;
  readinto returns what completed buffers hold (up to len(buf)); a full DMA drops the oldest
  buffer (counted in `overflows`). 32-bit slots emulate an INMP441: the 16-bit source sits in the
  top bits of the slot (`slot_shift`, default 16), so 24-bit data is left-justified in 32 bits.
  Stereo puts the mic in the left slot and zeros (an undriven line) in the right;
- TX: the DMA plays `rate` frames per second of clock time; when it runs dry it outputs zeros and
  counts `underrun_frames`. Room is freed one whole DMA buffer at a time (the TX_DONE event).
  Everything that reached the "pins", silence included, is kept in `played` (app format), so a
  test can assert exact samples at exact times: frame k was output at k / rate seconds after the
  bus was created;
- the room (optional: make_i2s(room=...), the class's echo_room): a tools/mpsim/vroom.py Room,
  the same code the MicroPython runtime runs. The TX DMA hands it every frame it plays (silence
  included) and the RX bus mixes its echo and noise into the mic's PCM16 before the slot
  format. It places bus frame k at absolute frame round(t0 * rate) + k of its rate's grid
  (within one sample of the bus's own k / rate after t0).

Host stream contract (what compat.stream_reader/stream_writer poll on CPython):
    readinto_nowait(buf) -> bytes copied now (0 if no DMA buffer is complete)
    write_nowait(buf)    -> bytes the DMA accepted now (0 if full)
    wait_ms()            -> ms until that can change (>= 1)
    clock.sleep_ms(ms)   -> awaitable sleep on the fake's clock
Plain readinto/write block like the real ones: on a RealClock they sleep, on a VirtualClock a call
that would have to wait raises (a test that wants waiting uses the stream path).
"""

import errno
import struct

DMA_FRAMES = 256  # I2S frames per DMA buffer in the ESP32 port
_IDS = (0, 1)
_KWARGS = ("sck", "ws", "sd", "mck", "mode", "bits", "format", "rate", "ibuf")
_REQUIRED = ("sck", "ws", "sd", "mode", "bits", "format", "rate", "ibuf")


class PcmSource:
    """Mono PCM16 LE audio for a virtual mic. feed() appends; past the end it reads silence
    (or wraps around when loop=True).

    at_clock_zero=True puts sample 0 at the clock's t=0 (the simulation start): the room plays
    the audio from then on, and a bus created later hears it from its creation, as a real mic
    would. Otherwise sample 0 is heard the moment the bus starts (scripted feed() sources)."""

    def __init__(self, pcm=b"", loop=False, at_clock_zero=False):
        self._buf = bytearray(pcm)
        self._pos = 0
        self.loop = loop
        self.at_clock_zero = at_clock_zero

    def skip_to(self, n):
        """Go on from sample n unless already past it: what played in the room while no bus
        was listening is not heard (a bus created again later resumes at its own time)."""
        self._pos = max(self._pos, min(len(self._buf) // 2 * 2, 2 * n))

    def feed(self, pcm):
        self._buf += pcm

    def remaining(self):
        return (len(self._buf) - self._pos) // 2

    def read(self, n):
        """The next n samples as 2n bytes."""
        out = bytearray(2 * n)
        got = 0
        while got < n:
            avail = (len(self._buf) - self._pos) // 2
            if avail <= 0:
                if self.loop and self._buf:
                    self._pos = 0
                    continue
                break
            take = min(avail, n - got)
            out[2 * got : 2 * (got + take)] = self._buf[self._pos : self._pos + 2 * take]
            self._pos += 2 * take
            got += take
        return bytes(out)


def _check_pin(name, pin):
    if isinstance(pin, bool) or not (isinstance(pin, int) or hasattr(pin, "value")):
        raise TypeError("%s: expected a Pin or a GPIO number, got %r" % (name, type(pin).__name__))
    if isinstance(pin, int) and not 0 <= pin <= 48:
        raise ValueError("invalid pin")


class _I2SBase:
    RX = 1  # I2S_MODE_MASTER | I2S_MODE_RX in the ESP32 port
    TX = 2
    MONO = 0
    STEREO = 1

    clock = None
    sources = None
    echo_room = None  # a tools.mpsim.vroom.Room, or None: no echo path, no noise
    _buses = None

    def __init__(self, id, *args, **kwargs):
        if args:
            raise TypeError("function takes 1 positional arguments but %d were given"
                            % (1 + len(args)))
        if isinstance(id, bool) or not isinstance(id, int):
            raise TypeError("can't convert %s to int" % type(id).__name__)
        if id not in _IDS:
            raise ValueError("invalid id")
        previous = self._buses.get(id)
        if previous is not None and not previous.deinited:
            previous.deinit()  # the port re-initialises the bus object for a known id
        self.id = id
        self.deinited = True
        self.init(**kwargs)
        self._buses[id] = self

    def init(self, **kwargs):
        for key in kwargs:
            if key not in _KWARGS:
                raise TypeError("unexpected keyword argument '%s'" % key)
        for key in _REQUIRED:
            if key not in kwargs:
                raise TypeError("'%s' argument required" % key)
        for key in ("sck", "ws", "sd"):
            _check_pin(key, kwargs[key])
        if kwargs.get("mck") is not None:
            _check_pin("mck", kwargs["mck"])
        for key in ("mode", "bits", "format", "rate", "ibuf"):
            if isinstance(kwargs[key], bool) or not isinstance(kwargs[key], int):
                raise TypeError("can't convert %s to int" % type(kwargs[key]).__name__)
        mode, bits, fmt = kwargs["mode"], kwargs["bits"], kwargs["format"]
        if mode not in (self.RX, self.TX):
            raise ValueError("invalid mode")
        if bits not in (16, 32):
            raise ValueError("invalid bits")
        if fmt not in (self.MONO, self.STEREO):
            raise ValueError("invalid format")
        if kwargs["rate"] <= 0:
            raise ValueError("invalid rate")
        if kwargs["ibuf"] <= 0:
            raise ValueError("invalid ibuf")
        self.mode, self.bits, self.format = mode, bits, fmt
        self.rate, self.ibuf = kwargs["rate"], kwargs["ibuf"]
        self.pins = {k: kwargs.get(k) for k in ("sck", "ws", "sd", "mck")}
        channels = 2 if fmt == self.STEREO else 1
        self.frame_bytes = bits // 8 * channels  # one frame in the app buffer
        dma_frame = 8 if mode == self.RX else self.frame_bytes
        self.dma_buffers = max(self.ibuf // (DMA_FRAMES * dma_frame), 2)
        self.dma_frames = self.dma_buffers * DMA_FRAMES
        self.dma_ms = self.dma_frames * 1000 / self.rate
        self._t0 = self.clock.now_us()
        self._done = 0  # frames the DMA has moved (TX: played, RX: captured and taken or lost)
        self._fifo = bytearray()  # TX: bytes waiting in DMA; RX: unused
        self._rx_taken = 0  # RX: frames handed to the app or dropped
        if mode == self.RX and getattr(self._source(), "at_clock_zero", False):
            self._source().skip_to(self._t0 * self.rate // 1_000_000)
        self._abs0 = (self._t0 * self.rate + 500_000) // 1_000_000  # frame 0 on the rate's grid
        if mode == self.TX and self.echo_room is not None:
            self.echo_room.speaker_start(self.rate, self._abs0)
        self.played = bytearray()
        self.writes = []  # TX: (now_us, bytes accepted) for each non-empty write
        self.underrun_frames = 0
        self.overflows = 0
        self.slot_shift = 16
        self._handler = None
        self._pending = None
        self.deinited = False

    # -- clock-driven DMA -------------------------------------------------------------------

    def _elapsed_frames(self):
        return (self.clock.now_us() - self._t0) * self.rate // 1_000_000

    def _frames_to_us(self, frames):
        return self._t0 + -(-frames * 1_000_000 // self.rate)

    def _update(self):
        if self.deinited:
            return
        now = self._elapsed_frames()
        if self.mode == self.TX:
            new = now - self._done
            if new > 0:
                have = min(new, len(self._fifo) // self.frame_bytes)
                nbytes = have * self.frame_bytes
                self.played += self._fifo[:nbytes]
                room = self.echo_room
                if room is not None:
                    room.speaker_play(self._fifo, 0, nbytes, self.bits, self.frame_bytes
                                      // (self.bits // 8))
                del self._fifo[:nbytes]
                if new > have:
                    self.played += bytes((new - have) * self.frame_bytes)
                    self.underrun_frames += new - have
                    if room is not None:
                        room.speaker_silence(new - have)
                self._done = now
        else:
            complete = now // DMA_FRAMES * DMA_FRAMES
            if complete - self._rx_taken > self.dma_frames:
                lost = complete - self.dma_frames - self._rx_taken
                self._skip_source(lost)
                self._rx_taken += lost
                self.overflows += lost // DMA_FRAMES
            self._done = complete
        self._service_irq()

    def _source(self):
        src = (self.sources or {}).get(self.id)
        if src is None:
            src = self.sources.setdefault(self.id, PcmSource())
        return src

    def _skip_source(self, frames):
        self._source().read(frames)

    def _encode_rx(self, pcm):
        n = len(pcm) // 2
        samples = struct.unpack("<%dh" % n, pcm)
        if self.bits == 16:
            vals, fmt = samples, "h"
        else:
            vals, fmt = [s << self.slot_shift for s in samples], "i"
            vals = [max(-(1 << 31), min((1 << 31) - 1, v)) for v in vals]
        if self.format == self.STEREO:
            vals = [v for s in vals for v in (s, 0)]
        return struct.pack("<%d%s" % (len(vals), fmt), *vals)

    # -- host stream contract -------------------------------------------------------------

    def _check_open(self, want_mode):
        if self.deinited:
            raise OSError(errno.EBADF, "I2S bus is deinitialised")
        if self.mode != want_mode:
            raise OSError(errno.EPERM, "EPERM")

    def readinto_nowait(self, buf):
        self._check_open(self.RX)
        if len(buf) % self.frame_bytes:
            raise OSError(errno.EINVAL, "EINVAL")
        self._update()
        frames = min(self._done - self._rx_taken, len(buf) // self.frame_bytes)
        if frames <= 0:
            return 0
        pcm = self._source().read(frames)
        if self.echo_room is not None:
            pcm = self._through_room(pcm, frames)
        data = self._encode_rx(pcm)
        memoryview(buf)[: len(data)] = data
        self._rx_taken += frames
        return len(data)

    def _through_room(self, pcm, frames):
        # What the speaker played up to now reaches the mic first (the TX DMA catches up).
        for bus in self._buses.values():
            if bus is not self and bus.mode == self.TX and not bus.deinited:
                bus._update()
        pcm = bytearray(pcm)
        self.echo_room.mix(pcm, 0, 2, frames, self._abs0 + self._rx_taken)
        return bytes(pcm)

    def room(self):
        """Bytes the TX DMA accepts now (whole DMA buffers only, as TX_DONE frees them)."""
        self._update()
        buf_bytes = DMA_FRAMES * self.frame_bytes
        free = self.dma_frames * self.frame_bytes - len(self._fifo)
        return free // buf_bytes * buf_bytes

    def write_nowait(self, buf):
        self._check_open(self.TX)
        n = min(len(buf), self.room())
        if n > 0:
            self._fifo += memoryview(buf)[:n]
            self.writes.append((self.clock.now_us(), n))
        return n

    def wait_ms(self):
        self._update()
        if self.mode == self.RX:
            target = (self._done // DMA_FRAMES + 1) * DMA_FRAMES
        else:
            # Room grows when the oldest partially played DMA buffer finishes.
            queued = len(self._fifo) // self.frame_bytes
            target = self._done + (queued % DMA_FRAMES or DMA_FRAMES)
        us = self._frames_to_us(target) - self.clock.now_us()
        return max(1, -(-us // 1000))

    def queued_frames(self):
        """TX: frames written but not yet played."""
        self._update()
        return len(self._fifo) // self.frame_bytes

    # -- the machine.I2S methods ----------------------------------------------------------

    def readinto(self, buf):
        if self._handler is not None:
            return self._start_nonblocking(buf, self.RX)
        view = memoryview(buf)
        got = 0
        while got < len(view):
            n = self.readinto_nowait(view[got:])
            got += n
            if got < len(view):
                self.clock.sleep_blocking_us(self.wait_ms() * 1000)
        return got

    def write(self, buf):
        if self._handler is not None:
            return self._start_nonblocking(buf, self.TX)
        view = memoryview(buf)
        done = 0
        while done < len(view):
            done += self.write_nowait(view[done:])
            if done < len(view):
                self.clock.sleep_blocking_us(self.wait_ms() * 1000)
        return done

    def irq(self, handler):
        if handler is not None and not callable(handler):
            raise ValueError("invalid callback")
        self._handler = handler

    def _start_nonblocking(self, buf, mode):
        # Non-blocking mode: the call returns at once; the transfer completes as the clock runs
        # and the handler is called then (service() polls, e.g. after clock.advance).
        self._check_open(mode)
        self._pending = [memoryview(buf), 0, mode]
        self._service_irq()
        return len(buf)

    def _service_irq(self):
        pending = self._pending
        if pending is None or self._handler is None:
            return
        self._pending = None  # readinto_nowait/write_nowait call _update; avoid re-entry
        view, done, mode = pending
        if mode == self.RX:
            done += self.readinto_nowait(view[done:])
        else:
            done += self.write_nowait(view[done:])
        if done < len(view):
            self._pending = [view, done, mode]
        else:
            self._handler(self)

    def service(self):
        """Let the DMA catch up with the clock (completes non-blocking transfers)."""
        self._update()

    def deinit(self):
        if not self.deinited:
            self._update()
        self.deinited = True
        self._fifo = bytearray()

    @staticmethod
    def shift(*, buf, bits, shift):
        # Like the port: a plain shift per sample that wraps around (no saturation).
        if bits not in (16, 32):
            raise ValueError("invalid bits")
        fmt = "<%d%s" % (len(buf) // (bits // 8), "h" if bits == 16 else "i")
        mask, top = (1 << bits) - 1, 1 << (bits - 1)
        out = []
        for v in struct.unpack_from(fmt, buf):
            v = (v << shift if shift >= 0 else v >> -shift) & mask
            out.append(v - (1 << bits) if v & top else v)
        struct.pack_into(fmt, buf, 0, *out)

    # -- helpers for tests -----------------------------------------------------------------

    def played_samples(self, channel=0):
        """TX output as a list of ints (one channel), silence included."""
        self._update()
        size = self.bits // 8
        n = len(self.played) // size
        vals = struct.unpack("<%d%s" % (n, "h" if size == 2 else "i"), self.played[: n * size])
        step = 2 if self.format == self.STEREO else 1
        return list(vals[channel::step])


def make_i2s(clock, sources=None, room=None):
    """A machine.I2S class whose instances run on `clock`; `sources` maps bus id -> PcmSource;
    `room` (a tools.mpsim.vroom.Room) joins its speaker to its mic."""
    return type(
        "I2S", (_I2SBase,), {"clock": clock, "sources": {} if sources is None else sources,
                             "_buses": {}, "echo_room": room}
    )
