"""The mic AGC with its limiter (lib/audio/agc.py) on synthetic speech (tests/mp/echo_util.py):
no sample at the rails for speech from -50 to 0 dBFS at the slot, the gain bounded and converging
towards the target, held in noise-only silence and while frozen (the bot's echo); and the kernels
(lib/audio/agc_viper.py) against their portable twins. tests/mp/test_audio_frontend.py runs the
core of this under MicroPython."""

import math
import os
import random
import sys
from array import array

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))

import echo_util as U  # noqa: E402

from audio import agc as A  # noqa: E402
from audio import pcm  # noqa: E402
from audio.mic import Mic  # noqa: E402


def dbfs(mean):
    return 20 * math.log10(max(mean, 1) / 32768)


@pytest.mark.parametrize("peak_dbfs", [-50, -40, -30, -20, -12, -6, 0])
def test_no_clipping_and_the_level_converges(peak_dbfs):
    agc = A.Agc(14)
    rails, means, gains = U.agc_run(agc, U.Voice(3, 1.0), 500, peak_dbfs)
    assert rails == 0
    assert all(A.MIN_GAIN_Q <= g <= A.MAX_GAIN_Q for g in gains)
    loudest = dbfs(max(means[300:]))
    if peak_dbfs == 0:
        assert agc.gain_q == A.MIN_GAIN_Q  # -12 dB is as low as it goes; the limiter does the rest
    elif peak_dbfs >= -40:
        # Converged: the loudest syllables land near the target (-26 dBFS mean |x|).
        assert -30 < loudest < -20, loudest
    else:
        assert loudest > -32, loudest  # +30 dB at most: still rising at -50 dBFS


def test_the_board_shift_is_the_starting_gain():
    assert A.Agc(14).gain_q == 4 * A.UNITY_Q and A.Agc(16).gain_q == A.UNITY_Q


def test_silence_and_noise_never_pump_the_gain():
    agc = A.Agc(14)
    U.agc_run(agc, U.Voice(3, 1.0), 300, -20)  # speech first: the gain settles near 0 dB
    settled = agc.gain_q
    _, _, gains = U.agc_run(agc, U.Voice(3, 1.0), 500, None, noise_dbfs=-70, start=300 * 160)
    assert set(gains) == {settled}
    _, _, gains = U.agc_run(agc, U.Voice(3, 1.0), 500, None, noise_dbfs=-45, start=800 * 160)
    # A fan switched on reads as a voice until it is its own minimum (~1 s): a bounded step,
    # then the gain holds.
    assert max(gains) <= settled * 1.41 and len(set(gains[80:])) == 1, gains[::20]


def test_frozen_while_the_bot_talks():
    agc = A.Agc(14)
    _, _, gains = U.agc_run(agc, U.Voice(5, 1.0), 200, -6, freeze=True)
    assert set(gains) == {4 * A.UNITY_Q}
    assert agc.limited > 0  # but the limiter still keeps the echo off the rails


def _slots(n):
    out = bytearray(4 * n)
    for i in range(n):
        pick = random.getrandbits(2)
        v = random.getrandbits(32) if pick == 0 else (random.getrandbits(16 + 4 * pick)
                                                      - (1 << (15 + 4 * pick))) & 0xFFFFFFFF
        for k in range(4):
            out[4 * i + k] = (v >> (8 * k)) & 0xFF
    return out


def test_kernels_agree_with_portable():
    random.seed(17)
    try:
        for n in list(range(10)) + [160, 320, 333]:
            raw = _slots(n)
            for gain in (1, 64, 255, 256, 1024, 8192, 65535):
                out = []
                for kernel in ("viper", "portable"):
                    A.use_kernel(kernel)
                    res = array("i", (0, 0))
                    dst = bytearray(2 * n + 3)
                    peak = A.stats32(raw, n, res)
                    A.gain32(raw, dst, 1, n, gain)
                    out.append((peak, res, bytes(dst)))
                assert out[0] == out[1], (n, gain)
    finally:
        A.use_kernel("viper")


def test_gain32_at_unity_matches_the_fixed_shift():
    random.seed(18)
    raw = _slots(320)
    fixed = bytearray(640)
    pcm.s32_to_s16(raw, fixed, 320, 16)
    agc_out = bytearray(640)
    A.gain32(raw, agc_out, 0, 320, A.UNITY_Q)
    assert agc_out == fixed
    pcm.s32_to_s16(raw, fixed, 320, 14)
    A.gain32(raw, agc_out, 0, 320, 4 * A.UNITY_Q)
    assert agc_out == fixed  # same rounding, same saturation


def test_mic_with_agc_gathers_the_frame_and_reports_the_raw_level():
    import asyncio
    import struct

    from tools.vhw.clock import VirtualClock
    from tools.vhw.i2s import PcmSource, make_i2s

    async def main():
        clock = VirtualClock()
        src = [int(v) for v in U.Voice(9, 7000).block(0, 3200)]
        pcm16 = struct.pack("<3200h", *src)
        mics = []
        for agc in (A.Agc(14), None):
            I2S = make_i2s(clock, {0: PcmSource(pcm16)})
            rx = I2S(0, sck=1, ws=2, sd=3, mode=1, bits=32, format=0, rate=16000, ibuf=8192)
            mics.append(Mic(rx, rate=16000, slot_bits=32, shift=14, agc=agc))
        bufs = [bytearray(640), bytearray(640)]

        async def record():
            for mic, buf in zip(mics, bufs):
                await mic.read_frame(buf)

        task = asyncio.ensure_future(record())
        await clock.advance(60)
        assert task.done()
        return mics, bufs

    (agc_mic, fixed), (a, b) = asyncio.run(main())
    assert a == b  # first frame: the AGC's gain is the board's shift, no limiting needed
    # Both report the frame's level in one unit, before any gain (the fixed path from int16).
    assert agc_mic.level > 1000
    assert abs(agc_mic.level - fixed.level) <= agc_mic.level // 50, (agc_mic.level, fixed.level)
