# Mic front end benchmarks under real MicroPython (`make bench` runs this file in the
# WebAssembly tier; tools/bench/bench_frontend.py runs it in the unix tier, where the viper
# kernels are native code, for the CPU rows of record): CPU per 20 ms frame of the echo guard
# and the AGC, the AGC's clipping and output level range on synthetic speech from -50 to -6 dBFS
# at the slot, and the guard's decisions on the synthetic room (tests/mp/echo_util.py).
# Timing is report only: a shared host's speed is no pass/fail criterion.
import math
import random
import time

import echo_util as U

import mptest
from audio import agc as A
from audio import echo as E

_REPS = 200
_TIER = "micropython-unix" if mptest.TIER == "unix" else "micropython"  # tools/bench/run.py


def _us_per(fn, reps):
    # Per call, from enough repetitions to rise above the timer's granularity.
    while True:
        t0 = time.ticks_us()
        for _ in range(reps):
            fn()
        us = time.ticks_diff(time.ticks_us(), t0)
        if us >= 100000 or reps >= 1 << 16:
            return us / reps
        reps *= 4


def test_cpu_per_frame():
    guard = E.EchoGuard()
    chunk = U.to_bytes([random.getrandbits(14) - 8192 for _ in range(64)])

    def echo_frame():
        # 16 kHz: the player hands the speaker five 64-frame chunks per 20 ms mic frame.
        for _ in range(5):
            guard.reference(chunk, 64)
        guard.process(12345)

    agc = A.Agc(14)
    raw = U.slots([(random.getrandbits(24) - (1 << 23)) << 4 for _ in range(320)])
    out = bytearray(640)

    def agc_frame():
        agc.process(raw, out, 320)

    echo_us = _us_per(echo_frame, _REPS)
    agc_us = _us_per(agc_frame, _REPS)
    native = "viper kernels native" if mptest.TIER == "unix" else "kernels as plain Python"
    mptest.bench("echo_guard_frame_us", round(echo_us, 1), "us", None, _TIER,
                 "EchoGuard: 5 speaker chunks of 64 samples + one 20 ms mic frame; %s" % native)
    mptest.bench("mic_agc_frame_us", round(agc_us, 1), "us", None, _TIER,
                 "Agc.process of one 20 ms frame (320 32-bit slots: stats + gain); %s" % native)
    mptest.bench("mic_frontend_frame_share", round((echo_us + agc_us) / 20000, 5), "x", None,
                 _TIER, "(echo guard + AGC) CPU / the 20 ms frame they serve, on this host")


def test_agc_clipping_and_level_range():
    rails = total = 0
    low, high = 0.0, -200.0
    for peak in (-50, -40, -30, -20, -12, -6):
        agc = A.Agc(14)
        r, means, _ = U.agc_run(agc, U.Voice(3, 1.0), 400, peak)
        rails += r
        total += 400 * U.FRAME
        loud = max(means[250:])
        db = 20 * math.log10(max(loud, 1) / 32768)
        low = db if db < low else low
        high = db if db > high else high
    mptest.bench("mic_agc_clip_fraction", rails / total, "x", "== 0", _TIER,
                 "samples at the int16 rails, speech peaking at -50..-6 dBFS at the slot "
                 "(8 s each, starting at the board's +12 dB)")
    mptest.bench("mic_agc_out_level_min_dbfs", round(low, 1), "dBFS", None, _TIER,
                 "loudest 20 ms mean |x| after 5 s, quietest input (-50 dBFS peak: +30 dB cap)")
    mptest.bench("mic_agc_out_level_max_dbfs", round(high, 1), "dBFS", None, _TIER,
                 "the same, loudest input (-6 dBFS peak); target -26 dBFS mean |x|")
    assert rails == 0


def test_echo_guard_decisions():
    import time as real_time

    false_alarms = 0
    frames = []
    try:
        for echo_db in (-12, -6, 0):
            clock = U.Clock()
            E.time = clock
            g = E.EchoGuard()
            U.run(g, clock, U.Room(echo_db=echo_db, delay_ms=60), 3000)
            false_alarms += g.barge_ins
            clock = U.Clock()
            E.time = clock
            g = E.EchoGuard()
            rows = U.run(g, clock, U.Room(echo_db=echo_db, delay_ms=30, user_db=6,
                                          user_at_ms=1500), 2500)
            hit = [r[0] for r in rows if r[3]]
            frames.append((hit[0] - 1500) // 20 if hit else 99)
    finally:
        E.time = real_time
    mptest.bench("echo_false_barge_ins", false_alarms, "", "== 0", _TIER,
                 "synthetic room, bot alone 3 s at echo -12/-6/0 dB, 60 ms acoustic delay")
    mptest.bench("echo_barge_in_frames", max(frames), "frames", None, _TIER,
                 "20 ms frames from a user 6 dB over the echo to the local barge-in (worst of "
                 "-12/-6/0 dB)")
