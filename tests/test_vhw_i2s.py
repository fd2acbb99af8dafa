# The I2S stand-in (tools/vhw/i2s.py): the real constructor's checks and the DMA's buffer
# semantics on a virtual clock.
import asyncio
import struct

import pytest

import compat
from tools.vhw.clock import VirtualClock
from tools.vhw.i2s import DMA_FRAMES, PcmSource, make_i2s

PINS = {"sck": 5, "ws": 4, "sd": 6}


def _bus(clock, mode, bits=16, fmt=0, rate=16000, ibuf=4096, sources=None, bus_id=0):
    I2S = make_i2s(clock, sources)
    return I2S(bus_id, **PINS, mode=mode, bits=bits, format=fmt, rate=rate, ibuf=ibuf)


def _ramp(n, start=1):
    return struct.pack("<%dh" % n, *[(start + i) % 30000 for i in range(n)])


@pytest.mark.parametrize(
    "kwargs, exc, text",
    [
        ({"sdin": 6}, TypeError, "unexpected keyword argument 'sdin'"),
        ({"mode": 3}, ValueError, "invalid mode"),
        ({"bits": 8}, ValueError, "invalid bits"),
        ({"bits": 24}, ValueError, "invalid bits"),
        ({"format": 2}, ValueError, "invalid format"),
        ({"rate": 0}, ValueError, "invalid rate"),
        ({"ibuf": 0}, ValueError, "invalid ibuf"),
        ({"sck": "5"}, TypeError, "sck"),
        ({"rate": 16000.0}, TypeError, "float"),
    ],
)
def test_constructor_rejects_what_the_port_rejects(kwargs, exc, text):
    I2S = make_i2s(VirtualClock())
    args = dict(PINS, mode=I2S.RX, bits=32, format=I2S.MONO, rate=16000, ibuf=4096)
    args.update(kwargs)
    with pytest.raises(exc, match=text):
        I2S(0, **args)


def test_constructor_requires_keywords_and_a_valid_id():
    I2S = make_i2s(VirtualClock())
    with pytest.raises(TypeError, match="'ibuf' argument required"):
        I2S(0, **PINS, mode=I2S.RX, bits=32, format=I2S.MONO, rate=16000)
    with pytest.raises(TypeError, match="positional"):
        I2S(0, 5, 4, 6)
    with pytest.raises(ValueError, match="invalid id"):
        I2S(2, **PINS, mode=I2S.RX, bits=32, format=I2S.MONO, rate=16000, ibuf=4096)
    assert (I2S.RX, I2S.TX, I2S.MONO, I2S.STEREO) == (1, 2, 0, 1)


def test_dma_buffer_count_follows_the_port():
    clock = VirtualClock()
    tx = _bus(clock, 2, bits=16, ibuf=1024)  # 16-bit mono TX: 512-byte DMA buffers
    assert (tx.dma_buffers, tx.dma_ms) == (2, 32.0)
    tx = _bus(clock, 2, bits=16, ibuf=100)  # too small: the port still allocates two
    assert tx.dma_buffers == 2
    rx = _bus(clock, 1, bits=32, ibuf=8 * DMA_FRAMES * 6)  # RX DMA frames are 8 bytes
    assert rx.dma_buffers == 6


def test_rx_returns_what_the_dma_holds():
    async def main():
        clock = VirtualClock()
        src = PcmSource(_ramp(5000))
        rx = _bus(clock, 1, bits=16, ibuf=8 * DMA_FRAMES * 3, sources={0: src})
        buf = bytearray(2000)
        assert rx.readinto_nowait(buf) == 0  # no DMA buffer complete yet
        await clock.advance(15)  # 240 frames: still none complete
        assert rx.readinto_nowait(buf) == 0
        await clock.advance(1)  # 256 frames at 16 ms
        assert rx.readinto_nowait(buf) == 512
        assert bytes(buf[:512]) == _ramp(256)
        await clock.advance(32)
        assert rx.readinto_nowait(buf) == 1024
        assert bytes(buf[:1024]) == _ramp(512, 257)
        await clock.advance(16 * 5)  # 5 buffers arrive, the DMA holds 3: 2 are lost
        assert rx.readinto_nowait(buf) == 1536
        assert rx.overflows == 2
        assert bytes(buf[:1536]) == _ramp(768, 1 + 256 * 5)
        assert rx.wait_ms() == 16

    asyncio.run(main())


def test_rx_32_bit_slots_emulate_inmp441():
    async def main():
        clock = VirtualClock()
        pcm = struct.pack("<4h", 1, -1, 32767, -32768)
        rx = _bus(clock, 1, bits=32, sources={0: PcmSource(pcm)})
        await clock.advance(16)
        buf = bytearray(16)
        assert rx.readinto_nowait(buf) == 16
        assert struct.unpack("<4i", buf) == (1 << 16, -(1 << 16), 32767 << 16, -32768 << 16)
        stereo = _bus(clock, 1, bits=16, fmt=1, bus_id=1, sources={1: PcmSource(pcm)})
        await clock.advance(16)
        buf = bytearray(8)
        assert stereo.readinto_nowait(buf) == 8
        assert struct.unpack("<4h", buf) == (1, 0, -1, 0)  # mic in the left slot
        with pytest.raises(OSError):
            stereo.readinto_nowait(bytearray(6))  # not a whole frame

    asyncio.run(main())


def test_tx_consumes_at_the_sample_rate_and_records_silence():
    async def main():
        clock = VirtualClock()
        tx = _bus(clock, 2, bits=16, ibuf=1024)
        assert tx.room() == 1024
        assert tx.write_nowait(_ramp(600)) == 1024  # the DMA takes two buffers' worth
        assert tx.write_nowait(b"\x01\x00") == 0
        assert tx.wait_ms() == 16
        await clock.advance(10)  # 160 frames played; the first buffer is not free yet
        assert tx.room() == 0
        await clock.advance(6)
        assert tx.room() == 512
        await clock.advance(34)  # 800 frames of time: 512 samples, then 288 of silence
        out = tx.played_samples()
        assert len(out) == 800
        assert out[:512] == list(struct.unpack("<512h", _ramp(512)))
        assert out[512:] == [0] * 288
        assert tx.underrun_frames == 288
        with pytest.raises(OSError):
            tx.readinto_nowait(bytearray(2))

    asyncio.run(main())


def test_blocking_calls_refuse_to_wait_on_a_virtual_clock():
    tx = _bus(VirtualClock(), 2, bits=16, ibuf=1024)
    assert tx.write(bytes(1024)) == 1024  # fits: no wait needed
    with pytest.raises(RuntimeError, match="virtual"):
        tx.write(bytes(2))


def test_irq_mode_completes_as_the_clock_runs():
    async def main():
        clock = VirtualClock()
        rx = _bus(clock, 1, bits=16, sources={0: PcmSource(_ramp(600))})
        done = []
        with pytest.raises(ValueError, match="invalid callback"):
            rx.irq(5)
        rx.irq(done.append)
        buf = bytearray(640)
        assert rx.readinto(buf) == 640  # returns at once
        await clock.advance(16)
        rx.service()
        assert done == []  # 256 of 320 frames
        await clock.advance(16)
        rx.service()
        assert done == [rx] and bytes(buf) == _ramp(320)

    asyncio.run(main())


def test_shift_wraps_like_the_port():
    I2S = make_i2s(VirtualClock())
    buf = bytearray(struct.pack("<3h", 1, 0x4000, -2))
    I2S.shift(buf=buf, bits=16, shift=1)
    assert struct.unpack("<3h", buf) == (2, -0x8000, -4)  # wraps: no saturation
    with pytest.raises(ValueError):
        I2S.shift(buf=buf, bits=12, shift=1)


def test_stream_adapters_poll_the_fake_on_its_clock():
    async def main():
        clock = VirtualClock()
        tx = _bus(clock, 2, bits=16, ibuf=1024)
        writer = compat.stream_writer(tx)
        data = _ramp(1000)

        async def play():
            writer.write(data)
            await writer.drain()
            return clock.now_us()

        task = asyncio.ensure_future(play())
        await clock.advance(100)
        # 2000 bytes: 1024 at once, then one 512-byte buffer at 16 ms and 32 ms.
        assert task.result() == 32_000
        assert tx.played_samples()[:1000] == list(struct.unpack("<1000h", data))

        rx = _bus(clock, 1, bits=16, sources={0: PcmSource(_ramp(400))}, bus_id=1)
        reader = compat.stream_reader(rx)
        task = asyncio.ensure_future(reader.readinto(bytearray(640)))
        await clock.advance(20)
        assert task.result() == 512  # partial, like the port in asyncio mode

    asyncio.run(main())
