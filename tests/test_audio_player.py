# The player under scripted arrival schedules, asserting the exact samples that reach the
# virtual I2S (tools/vhw) on a virtual clock: frame k of `played` left the pins at k / 16000 s.
import asyncio
import random
import struct

import pytest

from audio import g711
from audio.player import Player
from audio.speaker import Speaker
from tools.vhw.clock import VirtualClock
from tools.vhw.i2s import make_i2s

RATE = 16000
PER_MS = RATE // 1000


def ramp(n, start=0):
    # Never zero, so silence and audio cannot be confused.
    return struct.pack("<%dh" % n, *[((start + i) % 20000) + 1 for i in range(n)])


def samples(data):
    return list(struct.unpack("<%dh" % (len(data) // 2), data))


def runs(out):
    """[(start, end)] of the non-silent stretches of out."""
    spans, start = [], None
    for i, v in enumerate(out + [0]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            spans.append((start, i))
            start = None
    return spans


class Rig:
    def __init__(self, rate=RATE, ibuf=1024, **player_args):
        self.clock = VirtualClock()
        I2S = make_i2s(self.clock)
        self.tx = I2S(1, sck=1, ws=2, sd=3, mode=I2S.TX, bits=16, format=I2S.MONO, rate=rate,
                      ibuf=ibuf)
        self.player = Player(Speaker(self.tx, rate=rate), rate=rate, **player_args)
        self.task = asyncio.ensure_future(self.player.run())

    def out(self):
        return self.tx.played_samples()

    async def close(self):
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


def run(coro):
    asyncio.run(coro)


def test_burst_plays_every_sample_in_order_then_goes_idle():
    async def main():
        rig = Rig(buffer_ms=500, prefill_ms=60)
        data = ramp(200 * PER_MS)
        assert rig.player.idle.is_set()
        rig.player.write(data)
        rig.player.end_of_turn()
        assert not rig.player.idle.is_set()
        await rig.clock.advance(300)
        out = rig.out()
        assert out[: len(data) // 2] == samples(data)  # from t = 0: prefill was met at once
        assert not any(out[len(data) // 2 :])
        assert rig.player.idle.is_set()
        assert rig.player.stats["underruns"] == 0
        assert rig.player.stats["bytes_played"] == len(data)
        await rig.close()

    run(main())


def test_trickle_slower_than_real_time_underruns_and_refills_to_prefill():
    async def main():
        rig = Rig(buffer_ms=500, prefill_ms=60)
        chunks = [ramp(20 * PER_MS, 20 * PER_MS * k) for k in range(12)]
        for chunk in chunks:  # 20 ms of audio every 30 ms
            rig.player.write(chunk)
            await rig.clock.advance(30)
        rig.player.end_of_turn()
        await rig.clock.advance(400)
        out = rig.out()
        spans = runs(out)
        # Prefill (60 ms) is reached when the third chunk lands, at t = 60 ms.
        assert spans[0][0] == 60 * PER_MS
        heard = [v for v in out if v]
        assert heard == samples(b"".join(chunks))  # nothing lost, nothing repeated
        stats = rig.player.stats
        assert stats["underruns"] == len(spans) - 1 >= 2
        # Every resumption waited for the prefill again: each run lasts >= 60 ms, bar the
        # last one, which end_of_turn() may start early.
        assert all(end - start >= 60 * PER_MS for start, end in spans[:-1])
        assert rig.player.idle.is_set()
        await rig.close()

    run(main())


def test_clear_during_playback_leaves_under_40_ms_of_old_audio():
    async def main():
        rig = Rig(buffer_ms=500, prefill_ms=60)
        old = ramp(400 * PER_MS)
        rig.player.write(old)
        await rig.clock.advance(100)
        clear_at = 100 * PER_MS
        rig.player.clear()
        await rig.clock.advance(100)
        new = struct.pack("<%dh" % (50 * PER_MS), *([-7] * (50 * PER_MS)))
        rig.player.write(new)
        rig.player.end_of_turn()
        await rig.clock.advance(200)
        out = rig.out()
        old_s = samples(old)
        last_old = max(i for i, v in enumerate(out) if v > 0)
        assert out[: last_old + 1] == old_s[: last_old + 1]  # old audio in order up to there
        late_ms = (last_old + 1 - clear_at) / PER_MS
        assert late_ms < 40, "%.1f ms of old audio after clear()" % late_ms
        assert [v for v in out if v < 0] == [-7] * (50 * PER_MS)
        assert rig.player.stats["clears"] == 1
        await rig.close()

    run(main())


def test_end_of_turn_below_prefill_starts_playback_at_once():
    async def main():
        rig = Rig(buffer_ms=500, prefill_ms=200)
        data = ramp(50 * PER_MS)
        rig.player.write(data)
        await rig.clock.advance(10)
        assert not any(rig.out())  # 50 ms < 200 ms prefill: waiting
        rig.player.end_of_turn()
        await rig.clock.advance(150)
        out = rig.out()
        assert runs(out) == [(10 * PER_MS, 60 * PER_MS)]
        assert out[10 * PER_MS : 60 * PER_MS] == samples(data)
        assert rig.player.idle.is_set() and rig.player.stats["underruns"] == 0
        await rig.close()

    run(main())


def test_odd_length_writes_split_samples_correctly():
    async def main():
        rig = Rig(buffer_ms=100, prefill_ms=40)
        data = ramp(300 * PER_MS)
        rng = random.Random(5)
        pos = 0
        while pos < len(data):
            size = min(rng.choice((1, 3, 5, 7, 33, 321, 999)), len(data) - pos)
            while rig.player.room() < size:  # the network would wait_room(); time runs
                await rig.clock.advance(2)
            await rig.player.wait_room(size)
            rig.player.write(data[pos : pos + size])
            pos += size
            if rng.random() < 0.3:
                await rig.clock.advance(1)
        rig.player.end_of_turn()
        await rig.clock.advance(200)
        heard = [v for v in rig.out() if v]
        assert heard == samples(data)
        assert rig.player.stats["odd_bytes_dropped"] == 0
        await rig.close()

    run(main())


def test_back_pressure_bounds_memory_and_loses_nothing():
    async def main():
        rig = Rig(buffer_ms=200, prefill_ms=60)
        data = ramp(1000 * PER_MS)  # a server bursting 1 s of audio
        waits = 0

        async def network():
            nonlocal waits
            for pos in range(0, len(data), 960):
                piece = data[pos : pos + 960]
                if rig.player.room() < len(piece):
                    waits += 1
                await rig.player.wait_room(len(piece))
                rig.player.write(piece)
            rig.player.end_of_turn()

        net = asyncio.ensure_future(network())
        await rig.clock.advance(1300)
        assert net.done()
        assert waits > 10  # the socket reader really was held back
        assert rig.player.stats["peak_fill_bytes"] <= 200 * PER_MS * 2
        assert [v for v in rig.out() if v] == samples(data)
        assert rig.player.stats["underruns"] == 0
        with pytest.raises(OverflowError):
            rig.player.write(bytes(rig.player.room() + 2))
        with pytest.raises(ValueError, match="never fit"):
            await rig.player.wait_room(10**6)
        await rig.close()

    run(main())


def test_overflowing_write_keeps_nothing():
    async def main():
        rig = Rig(buffer_ms=20, prefill_ms=20)
        room = rig.player.room()
        assert room == 20 * PER_MS * 2
        with pytest.raises(OverflowError, match="wait_room"):
            rig.player.write(bytes(room + 1))
        assert rig.player.room() == room
        await rig.close()

    run(main())


@pytest.mark.parametrize("codec", ["g711a", "g711u"])
def test_g711_is_decoded_on_the_way_in(codec):
    async def main():
        rig = Rig(buffer_ms=500, prefill_ms=40, codec=codec)
        pcm = ramp(100 * PER_MS)
        codes = bytearray(len(pcm) // 2)
        encode = g711.encode_alaw if codec == "g711a" else g711.encode_ulaw
        decode = g711.decode_alaw if codec == "g711a" else g711.decode_ulaw
        encode(pcm, codes)
        expect = bytearray(len(pcm))
        decode(codes, expect)
        for pos in range(0, len(codes), 333):
            rig.player.write(codes[pos : pos + 333])
        rig.player.end_of_turn()
        await rig.clock.advance(200)
        out = rig.out()
        assert out[: len(codes)] == samples(expect)
        await rig.close()

    run(main())


def _linear_reference(x, in_rate, out_rate):
    step = (in_rate << 16) // out_rate
    out, p = [], 0
    while (p >> 16) + 1 < len(x):
        k, frac = p >> 16, (p & 0xFFFF) >> 2
        out.append(x[k] + (((x[k + 1] - x[k]) * frac) >> 14))
        p += step
    return out


def test_24k_downlink_is_resampled_onto_a_16k_bus():
    async def main():
        rig = Rig(buffer_ms=500, prefill_ms=40, in_rate=24000)
        src = [1000 + (i * 37) % 9000 for i in range(24 * 150)]
        data = struct.pack("<%dh" % len(src), *src)
        for pos in range(0, len(data), 1001):  # odd pieces: samples split across writes
            rig.player.write(data[pos : pos + 1001])
        rig.player.end_of_turn()
        await rig.clock.advance(300)
        heard = [v for v in rig.out() if v]
        expect = _linear_reference(src, 24000, 16000)
        assert abs(len(heard) - 150 * PER_MS) <= 1
        assert heard[: len(expect)] == expect
        await rig.close()

    run(main())


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="unsupported codec 'opus'.*pcm, g711a, g711u"):
        Player(None, codec="opus")
    with pytest.raises(ValueError, match="prefill_ms"):
        Player(None, buffer_ms=100, prefill_ms=200)


def test_deinit_cancels_the_owned_task():
    async def main():
        rig = Rig(buffer_ms=100, prefill_ms=20)
        task = rig.player.start()
        rig.player.write(ramp(320))
        await rig.clock.advance(5)
        rig.player.deinit()
        await asyncio.sleep(0)
        assert task.cancelled()
        await rig.close()

    run(main())
