# The audio core under real MicroPython: conversion kernels, ring, player logic through an
# in-memory I2S stand-in, and the allocation bounds of the per-frame paths.
import asyncio
import struct

import kernel_util

import mptest
from audio import g711, pcm
from audio.mic import Mic
from audio.player import Player
from audio.ring import Ring
from audio.speaker import Speaker

use_kernel = kernel_util.select(pcm)  # "portable": the same source as bytecode


class Clock:
    # Time moves only when someone sleeps on it: enough for single-threaded DMA stand-ins.
    # Every sleep really yields 1 ms: the WebAssembly port's scheduler runs ready tasks until
    # none is left before the test's own coroutine resumes, so a sleep_ms(0) loop never ends.
    def __init__(self):
        self.ms = 0

    async def sleep_ms(self, ms):
        self.ms += ms
        await asyncio.sleep_ms(1)


class FakeTx:
    # The host stream contract (tools/hostcompat.py): 512 bytes of DMA room freed per 16 ms slept.
    def __init__(self, clock):
        self.clock = clock
        self.out = bytearray()
        self._taken_ms = 0
        self._fill = 0

    def write_nowait(self, buf):
        freed = (self.clock.ms - self._taken_ms) // 16 * 512
        if freed:
            self._taken_ms = self.clock.ms
            self._fill = max(0, self._fill - freed)
        n = min(len(buf), 1024 - self._fill)
        self.out.extend(buf[:n]) if n < len(buf) else self.out.extend(buf)
        self._fill += n
        return n

    def wait_ms(self):
        return 16

    def deinit(self):
        pass


class FakeRx:
    # Hands out at most `chunk` bytes per read (like a DMA buffer), from a repeating pattern.
    def __init__(self, pattern, chunk):
        self.pattern = pattern
        self.chunk = chunk
        self.pos = 0

    def readinto_nowait(self, buf):
        n = min(len(buf), self.chunk)
        p = self.pattern
        for i in range(n):
            buf[i] = p[(self.pos + i) % len(p)]
        self.pos += n
        return n

    def wait_ms(self):
        return 1


def _ramp(n, start=0):
    out = bytearray(2 * n)
    for i in range(n):
        v = ((start + i) % 20000) + 1
        out[2 * i] = v & 0xFF
        out[2 * i + 1] = v >> 8
    return out


def _nonzero(data):
    vals = struct.unpack("<%dh" % (len(data) // 2), data)
    return [v for v in vals if v]


async def _play(player, clock, until_ms):
    task = asyncio.create_task(player.run())
    for _ in range(until_ms):
        await asyncio.sleep_ms(1)
        if player.idle.is_set() or clock.ms >= until_ms:
            break
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def test_s32_to_s16_saturates_both_kernels():
    src = struct.pack("<4i", 1 << 16, 0x7FFFFF00, -0x80000000, -(5 << 14))
    for kernel in ("viper", "portable"):
        use_kernel(kernel)
        dst = bytearray(8)
        pcm.s32_to_s16(src, dst, 4, 14)
        assert struct.unpack("<4h", dst) == (4, 32767, -32768, -5), kernel
    use_kernel("viper")


def test_ring_wraps_and_clears():
    ring = Ring(10)
    data = bytes(range(1, 8))
    out = bytearray(10)
    assert ring.write(data) == 7
    assert ring.readinto(out, 5) == 5
    assert ring.write(data) == 7  # wraps
    assert ring.used() == 9 and ring.free() == 1
    assert ring.readinto(out) == 9
    assert bytes(out[:9]) == bytes((6, 7)) + data
    try:
        ring.write(bytes(11))
    except OverflowError:
        pass
    else:
        raise AssertionError("overflow must raise")
    ring.write(data)
    ring.clear()
    assert ring.used() == 0


async def test_player_plays_odd_splits_exactly():
    clock = Clock()
    tx = FakeTx(clock)
    player = Player(Speaker(tx), rate=16000, buffer_ms=200, prefill_ms=40)
    data = _ramp(1600)
    pos = 0
    sizes = (1, 3, 7, 101, 333)
    i = 0
    while pos < len(data):
        size = min(sizes[i % len(sizes)], len(data) - pos)
        player.write(data[pos : pos + size])
        pos += size
        i += 1
    player.end_of_turn()
    await _play(player, clock, 2000)
    assert _nonzero(tx.out) == _nonzero(data)
    assert player.idle.is_set()
    assert player.stats["underruns"] == 0


async def test_player_decodes_g711_and_resamples():
    pcm_in = _ramp(480)
    codes = bytearray(480)
    g711.encode_ulaw(pcm_in, codes)
    expect = bytearray(960)
    g711.decode_ulaw(codes, expect)
    clock = Clock()
    tx = FakeTx(clock)
    player = Player(Speaker(tx), rate=16000, buffer_ms=200, prefill_ms=20, codec="g711u")
    player.write(codes)
    player.end_of_turn()
    await _play(player, clock, 1000)
    assert _nonzero(tx.out) == _nonzero(expect)

    clock = Clock()
    tx = FakeTx(clock)
    player = Player(Speaker(tx), rate=16000, buffer_ms=200, prefill_ms=20, in_rate=24000)
    player.write(_ramp(2400))  # 100 ms at 24 kHz
    player.end_of_turn()
    await _play(player, clock, 1000)
    heard = _nonzero(tx.out)
    assert abs(len(heard) - 1600) <= 1
    assert heard[:3] == [1, 2, 4]  # positions 0, 1.5, 3 of the ramp 1, 2, 3, 4...


async def test_player_clear_drops_buffered_audio():
    clock = Clock()
    tx = FakeTx(clock)
    player = Player(Speaker(tx), rate=16000, buffer_ms=500, prefill_ms=40)
    player.write(_ramp(4000))
    task = asyncio.create_task(player.run())
    for _ in range(1000):
        if clock.ms >= 50:
            break
        await asyncio.sleep_ms(1)
    player.clear()
    heard_at_clear = len(tx.out)
    for _ in range(100):
        await asyncio.sleep_ms(1)
    task.cancel()
    late = len(_nonzero(tx.out[heard_at_clear:]))
    assert late <= 64, late  # at most the chunk being handed over
    assert player.buffered_ms() == 0 and player.stats["clears"] == 1


def test_sync_paths_allocate_nothing():
    # Real sample values: a zero frame would hide big-int temporaries of the plain-Python run.
    frame32 = bytearray(struct.pack("<4i", 0x7FFFFF00, -0x80000000, 0x12345678, -5) * 80)
    frame16 = bytearray(struct.pack("<4h", 32767, -32768, 12345, -5) * 80)
    pcm.s32_to_s16(frame32, frame16, 320, 14)
    assert mptest.alloc(pcm.s32_to_s16, frame32, frame16, 320, 14) == 0
    assert mptest.alloc(pcm.scale16, frame16, 320, 5000) == 0
    assert mptest.alloc(pcm.mono_to_stereo16, frame16, frame32, 320) == 0
    assert mptest.alloc(pcm.mean_abs16, frame16, 320) == 0
    ring = Ring(4096)
    ring.write(frame16)
    assert mptest.alloc(ring.write, frame16) == 0
    assert mptest.alloc(ring.readinto, frame16) == 0
    player = Player(None, rate=16000, buffer_ms=500, prefill_ms=100)
    player.write(frame16)
    assert mptest.alloc(player.write, frame16) == 0  # a 20 ms PCM message
    odd = memoryview(frame16)[:333]
    player.write(odd)
    assert mptest.alloc(player.write, odd) == 0


async def test_mic_frame_allocates_only_coroutine_objects():
    # MicroPython heap-allocates every coroutine call (the generator object). A frame may take
    # two DMA reads, so the bound is read_frame's coroutine plus two readinto coroutines; the
    # sample path itself allocates nothing (test_sync_paths_allocate_nothing).
    pattern = struct.pack("<4i", 1 << 16, -(1 << 16), 3 << 16, 0x7FFFFF00)
    mic = Mic(FakeRx(pattern, 512), rate=16000, frame_ms=20, slot_bits=32, shift=16)
    buf = bytearray(640)
    await mic.read_frame(buf)
    assert struct.unpack("<4h", buf[:8]) == (1, -1, 3, 32767)

    async def inner(b):
        return 1

    async def outer(b):
        await inner(b)
        await inner(b)
        return 1

    base = await mptest.alloc_async(outer, buf)
    sizes = []
    for _ in range(6):
        sizes.append(await mptest.alloc_async(mic.read_frame, buf))
    print("mic frame alloc", sizes, "coroutine baseline", base)
    mptest.bench("mic_frame_alloc", max(sizes), "bytes", 0, "micropython",
                 "heap per 20 ms mic frame (all of it coroutine objects; baseline %d)" % base)
    assert max(sizes) <= 2 * base, sizes
