# The mic front end under real MicroPython: the echo guard (audio/echo.py) and the AGC
# (audio/agc.py) on the synthetic room of echo_util.py, their kernels (audio/agc_viper.py)
# native against portable, and nothing allocated per frame. tests/test_audio_echo.py and
# tests/test_audio_agc.py hold the wider CPython sweep of the same cases.
import random
from array import array

import echo_util as U
import kernel_util

import mptest
from audio import agc as A
from audio import agc_viper, echo_viper
from audio import echo as E

VAD_DBFS = -40  # the fake cloud's VAD threshold (tools/cloud/vad.py)


def _guard():
    clock = U.Clock()
    E.time = clock
    return E.EchoGuard(), clock


def _restore_time():
    import time

    E.time = time


def test_bot_alone_never_triggers():
    try:
        for echo_db, delay_ms in ((-12, 60), (-6, 30), (0, 5)):
            g, clock = _guard()
            rows = U.run(g, clock, U.Room(echo_db=echo_db, delay_ms=delay_ms), 3000)
            assert g.barge_ins == 0, (echo_db, delay_ms)
            heard = [r[0] for r in rows if not r[2] and U.dbfs(r[1]) > VAD_DBFS]
            assert not heard, (echo_db, delay_ms, heard[:4])
    finally:
        _restore_time()


def test_user_over_the_echo_triggers_within_eight_frames():
    try:
        for echo_db in (-12, 0):
            g, clock = _guard()
            room = U.Room(echo_db=echo_db, delay_ms=30, user_db=6, user_at_ms=1500)
            rows = U.run(g, clock, room, 2000)
            first = [r[0] for r in rows if r[3]]
            assert first and 1500 < first[0] <= 1500 + 8 * 20, (echo_db, first)
    finally:
        _restore_time()


def test_agc_never_clips_and_silence_does_not_pump():
    for peak in (-50, -6, 0):
        agc = A.Agc(14)
        rails, _, gains = U.agc_run(agc, U.Voice(3, 1.0), 60, peak)
        assert rails == 0, peak
        assert A.MIN_GAIN_Q <= min(gains) and max(gains) <= A.MAX_GAIN_Q
    agc = A.Agc(14)
    _, _, gains = U.agc_run(agc, U.Voice(3, 1.0), 100, None, noise_dbfs=-70)
    assert gains == [4 * A.UNITY_Q] * 100


def test_kernels_are_native():
    kernel_util.assert_viper(agc_viper, ("stats32", "gain32"))
    kernel_util.assert_viper(echo_viper, ("spans", "tightest", "learn"))
    assert A.KERNEL == "viper" and E._fast is echo_viper


def test_echo_kernels_agree():
    lags, width, decay, floor, lo, hi = E.PARAMS
    kernel_util.seed(41)
    try:
        for _ in range(60):
            slots = array("i", [random.getrandbits(15) if random.getrandbits(1) else 0
                                for _ in range(32)])
            cur = random.getrandbits(6) - 16  # < 0 too: behind the ring start
            num = random.getrandbits(8 + random.getrandbits(4) + random.getrandbits(3))
            first = random.getrandbits(1)
            spans0 = [random.getrandbits(15) for _ in range(lags)]
            erls0 = [lo + random.getrandbits(14) % hi for _ in range(lags)]
            out = []
            for kernel in ("viper", "portable"):
                E.use_kernel(kernel)
                sp = array("i", spans0)
                erls = array("i", erls0)
                if kernel == "viper":
                    top = echo_viper.spans(slots, cur, sp, lags, width, decay)
                    best = echo_viper.tightest(erls, lags)
                    echo_viper.learn(erls, sp, lags, num, floor, lo,
                                     hi, first)
                else:
                    top = E._p_spans(slots, cur, sp, lags, width, decay)
                    best = E._p_tightest(erls, lags)
                    E._p_learn(erls, sp, lags, num, floor, lo, hi,
                               first)
                out.append((top, best, list(sp), list(erls)))
            assert out[0] == out[1], out
    finally:
        E.use_kernel("viper")


def test_agc_kernels_agree():
    kernel_util.seed(40)
    try:
        for n in kernel_util.lengths(333):
            raw = kernel_util.rand_bytes(4 * n)
            # a third of the slots small, where a large gain matters and must not wrap
            for i in range(0, n, 3):
                raw[4 * i + 3] = 0xFF if raw[4 * i + 3] & 1 else 0
            for gain in (1, 64, 256, 1024, 8192, 65535):
                out = []
                for kernel in ("viper", "portable"):
                    A.use_kernel(kernel)
                    res = array("i", (0, 0))
                    dst = bytearray(2 * n + 3)
                    peak = A.stats32(raw, n, res)
                    A.gain32(raw, dst, 1, n, gain)
                    out.append((peak, res[0], res[1], bytes(dst)))
                assert out[0] == out[1], (n, gain)
    finally:
        A.use_kernel("viper")


def test_per_frame_paths_allocate_nothing():
    g = E.EchoGuard()  # the real clock: ticks_ms / ticks_diff allocate nothing either
    chunk = U.to_bytes([1000, -1000] * 32)
    g.reference(chunk, 64)
    g.process(5000)
    for level in (5000, 40000, 10, 200000):
        assert mptest.alloc(g.reference, chunk, 64) == 0
        assert mptest.alloc(g.process, level) == 0
    agc = A.Agc(14)
    raw = U.slots([random.getrandbits(24) - (1 << 23) for _ in range(320)])
    out = bytearray(640)
    agc.process(raw, out, 320)
    assert mptest.alloc(agc.process, raw, out, 320) == 0
    quiet = U.slots([random.getrandbits(8) - 128 for _ in range(320)])
    assert mptest.alloc(agc.process, quiet, out, 320) == 0


async def test_mic_with_agc_allocates_only_coroutine_objects():
    from test_audio_core import FakeRx

    from audio.mic import Mic

    pattern = U.slots([3000 << 16, -(3000 << 16), 7 << 16, 2 << 30])
    mic = Mic(FakeRx(pattern, 512), rate=16000, frame_ms=20, slot_bits=32, shift=14,
              agc=A.Agc(14))
    buf = bytearray(640)
    await mic.read_frame(buf)

    async def inner(b):
        return 1

    async def outer(b):
        await inner(b)
        await inner(b)
        return 1

    base = await mptest.alloc_async(outer, buf)
    sizes = []
    for _ in range(4):
        sizes.append(await mptest.alloc_async(mic.read_frame, buf))
    # The same bound as the fixed-gain mic (test_audio_core): coroutine objects only.
    assert max(sizes) <= 2 * base, (sizes, base)
    assert mic.level > 0
