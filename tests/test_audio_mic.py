# Mic and speaker on the I2S fake: 32-bit slot conversion with saturation, frames from partial
# DMA reads, volume and stereo duplication.
import asyncio
import random
import struct

import pytest

from audio import pcm
from audio.mic import Mic
from audio.speaker import Speaker, volume_gain_q12
from tools.vhw.clock import VirtualClock
from tools.vhw.i2s import PcmSource, make_i2s


def _bus(clock, mode, bits, fmt=0, source=None, ibuf=8192):
    I2S = make_i2s(clock, {0: source} if source else None)
    return I2S(0, sck=1, ws=2, sd=3, mode=mode, bits=bits, format=fmt, rate=16000, ibuf=ibuf)


def test_s32_to_s16_saturates_where_i2s_shift_wraps():
    slots = [0, 1 << 16, -(1 << 16), 0x7FFFFF00, -0x80000000, 0x12345678, 0x00012345 << 8]
    src = struct.pack("<%di" % len(slots), *slots)
    dst = bytearray(2 * len(slots))
    pcm.s32_to_s16(src, dst, len(slots), shift=14)
    got = struct.unpack("<%dh" % len(slots), dst)
    want = [max(-32768, min(32767, s >> 14)) for s in slots]
    assert list(got) == want
    assert got[3] == 32767 and got[4] == -32768  # wrap-around would flip these signs
    pcm.s32_to_s16(src, dst, len(slots), shift=16, gain_q8=512)
    want = [max(-32768, min(32767, (max(-(1 << 20), min(1 << 20, s >> 16)) * 512) >> 8))
            for s in slots]
    assert list(struct.unpack("<%dh" % len(slots), dst)) == want


def _s16(data, n):
    return list(struct.unpack("<%dh" % n, bytes(data[: 2 * n])))


def test_kernels_match_integer_references_on_random_data():
    rng = random.Random(1)
    raw = bytes(rng.randrange(256) for _ in range(4 * 500))
    a, b = bytearray(1000), bytearray(raw[:1000])
    pcm.s32_to_s16(raw, a, 500, 13, 300)
    slots = struct.unpack("<500i", raw)
    sat = lambda v: max(-32768, min(32767, v))  # noqa: E731
    assert _s16(a, 500) == [sat((max(-(1 << 20), min(1 << 20, s >> 13)) * 300) >> 8)
                            for s in slots]
    pcm.scale16(b, 500, 9000)
    assert _s16(b, 500) == [sat((x * 9000) >> 12) for x in _s16(raw, 500)]
    c = bytearray(2000)
    assert pcm.mono_to_stereo16(raw, c, 500) == 2000
    assert _s16(c, 1000) == [x for x in _s16(raw, 500) for _ in (0, 1)]
    assert pcm.mean_abs16(raw, 500) == sum(abs(x) for x in _s16(raw, 500)) // 500


def test_bad_conversion_arguments_are_refused():
    with pytest.raises(ValueError, match="shift"):
        pcm.s32_to_s16(bytearray(4), bytearray(2), 1, shift=40)
    with pytest.raises(ValueError, match="destination"):
        pcm.s32_to_s16(bytearray(8), bytearray(2), 2)
    with pytest.raises(ValueError, match="slot_bits"):
        Mic(None, slot_bits=24)


@pytest.mark.parametrize("slot_bits", [32, 16])
def test_mic_frames_are_the_source_samples(slot_bits):
    async def main():
        clock = VirtualClock()
        src = [((i * 97) % 50000) - 25000 for i in range(16000)]
        rx = _bus(clock, 1, slot_bits, source=PcmSource(struct.pack("<16000h", *src)))
        mic = Mic(rx, rate=16000, frame_ms=20, slot_bits=slot_bits, shift=16)
        frames = []

        async def record():
            buf = bytearray(640)
            for _ in range(10):
                assert await mic.read_frame(buf) == 640
                frames.append(bytes(buf))

        task = asyncio.ensure_future(record())
        await clock.advance(260)
        assert task.done()
        got = struct.unpack("<3200h", b"".join(frames))
        assert list(got) == src[:3200]

    asyncio.run(main())


def test_mic_gain_saturates():
    async def main():
        clock = VirtualClock()
        src = struct.pack("<4h", 1000, -1000, 20000, -20000) * 80
        rx = _bus(clock, 1, 32, source=PcmSource(src))
        mic = Mic(rx, slot_bits=32, shift=14)  # +12 dB
        buf = bytearray(640)
        task = asyncio.ensure_future(mic.read_frame(buf))
        await clock.advance(40)
        assert task.result() == 640
        assert struct.unpack("<4h", buf[:8]) == (4000, -4000, 32767, -32768)

    asyncio.run(main())


def test_volume_curve():
    assert volume_gain_q12(70) == 4096
    assert volume_gain_q12(0) == 0
    assert volume_gain_q12(50) == round(4096 * 10 ** (-10 / 20))
    assert volume_gain_q12(100) == round(4096 * 10 ** (15 / 20))


@pytest.mark.parametrize("channels", [1, 2])
def test_speaker_volume_saturates_and_duplicates_to_stereo(channels):
    async def main():
        clock = VirtualClock()
        tx = _bus(clock, 2, 16, fmt=channels - 1, ibuf=4096)
        spk = Speaker(tx, rate=16000, channels=channels, volume=100, max_samples=100)
        spk.set_volume(150)  # clamped to 100
        assert spk.volume == 100
        data = struct.pack("<4h", 100, -100, 20000, -20000) * 75  # 300 samples, 3 pieces
        task = asyncio.ensure_future(spk.write(data))
        await clock.advance(40)
        assert task.done()
        gain = volume_gain_q12(100)
        expect = [(100 * gain) >> 12, (-100 * gain) >> 12, 32767, -32768] * 75
        for ch in range(channels):
            assert tx.played_samples(ch)[:300] == expect
        assert data == struct.pack("<4h", 100, -100, 20000, -20000) * 75  # caller's untouched

    asyncio.run(main())


def test_speaker_32_bit_slots_carry_the_sample_in_the_top_half():
    async def main():
        clock = VirtualClock()
        tx = _bus(clock, 2, 32, ibuf=4096)
        spk = Speaker(tx, rate=16000, bits=32)
        task = asyncio.ensure_future(spk.write(struct.pack("<3h", 1, -1, 32767)))
        await clock.advance(1)
        assert task.done()
        assert tx.played_samples()[:3] == [1 << 16, -(1 << 16), 32767 << 16]
        with pytest.raises(ValueError, match="mono only"):
            Speaker(tx, bits=32, channels=2)

    asyncio.run(main())
