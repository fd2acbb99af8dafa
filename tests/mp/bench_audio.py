# Audio benchmarks under real MicroPython (run by `make bench` via tools/bench/run.py):
# micropython.RingIO against audio/ring.Ring for the player's 20 ms write + read cycle, and the
# heap cost of the player's write path. In this tier viper kernels run as plain Python, so the
# own ring's speed here is a lower bound (on the ESP32 its copy is native); the allocation
# numbers are exact and hold on the device.
import time

import micropython

import mptest
from audio.player import Player
from audio.ring import Ring

_N = 200


def _cycle_ring(ring, frame, out):
    for _ in range(_N):
        ring.write(frame)
        ring.readinto(out)


def _cycle_ringio(ring, frame, out):
    for _ in range(_N):
        ring.write(frame)
        ring.readinto(out, 640)


def _timed(fn, *args):
    # Per cycle, from enough repetitions to rise above the WebAssembly port's timer granularity.
    reps = 1
    while True:
        t0 = time.ticks_ms()
        for _ in range(reps):
            fn(*args)
        ms = time.ticks_diff(time.ticks_ms(), t0)
        if ms >= 200 or reps >= 4096:
            return ms * 1000 / (reps * _N)
        reps *= 4


def test_ring_vs_ringio():
    frame = bytearray(i & 0xFF for i in range(640))
    out = bytearray(640)
    own = Ring(16000)
    rio = micropython.RingIO(16001)  # RingIO holds size - 1 bytes
    _cycle_ring(own, frame, out)
    _cycle_ringio(rio, frame, out)
    us_own = _timed(_cycle_ring, own, frame, out)
    us_rio = _timed(_cycle_ringio, rio, frame, out)
    a_own = mptest.alloc(_cycle_ring, own, frame, out)
    a_rio = mptest.alloc(_cycle_ringio, rio, frame, out)
    what = "one 20 ms cycle (write + read 640 B), WebAssembly tier"
    mptest.bench("ring_own_us", round(us_own, 2), "us", None, "micropython",
                 what + "; own ring, viper copy run as plain Python")
    mptest.bench("ring_ringio_us", round(us_rio, 2), "us", None, "micropython",
                 what + "; RingIO (C)")
    what = "%d x (write + read 640 B)" % _N
    mptest.bench("ring_own_alloc", a_own, "bytes", "== 0", "micropython", what)
    mptest.bench("ring_ringio_alloc", a_rio, "bytes", None, "micropython", what)
    assert a_own == 0


def test_player_write_alloc():
    player = Player(None, rate=16000, buffer_ms=1000, prefill_ms=100)
    frame = bytearray(640)
    odd = memoryview(bytearray(333))
    player.write(frame)
    a_frame = mptest.alloc(player.write, frame)
    a_odd = mptest.alloc(player.write, odd)
    g711 = Player(None, rate=16000, buffer_ms=1000, prefill_ms=100, codec="g711a")
    codes = bytearray(320)
    g711.write(codes)
    a_g711 = mptest.alloc(g711.write, codes)
    mptest.bench("player_write_alloc", a_frame, "bytes", "== 0", "micropython",
                 "Player.write of a 20 ms PCM message")
    mptest.bench("player_write_odd_alloc", a_odd, "bytes", "== 0", "micropython",
                 "Player.write of 333 bytes (a sample split across writes)")
    mptest.bench("player_write_g711_alloc", a_g711, "bytes", None, "micropython",
                 "Player.write of 20 ms G.711 (one memoryview per 256 codes)")


async def test_mic_frame_alloc():
    import struct

    from test_audio_core import FakeRx

    from audio.mic import Mic

    pattern = struct.pack("<4i", 1 << 16, -(1 << 16), 3 << 16, 0x7FFFFF00)
    mic = Mic(FakeRx(pattern, 512), slot_bits=32, shift=14)
    buf = bytearray(640)
    await mic.read_frame(buf)
    sizes = []
    for _ in range(4):  # (no await inside a comprehension in MicroPython)
        sizes.append(await mptest.alloc_async(mic.read_frame, buf))
    mptest.bench("mic_frame_alloc", max(sizes), "bytes", "<= 320", "micropython",
                 "heap per 20 ms mic frame from 512-byte DMA reads: coroutine objects only "
                 "(the sample path allocates 0, asserted in test_audio_core)")
