"""The echo guard (lib/audio/echo.py) on a synthetic room (tests/mp/echo_util.py): the bot's own
echo never reads as the user, whatever its level and delay, and what goes up while only the bot
plays is silence; a user 6 dB over the echo is heard within a few frames. The same cases run
under MicroPython in tests/mp/test_audio_frontend.py."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp"))

import echo_util as U  # noqa: E402

from audio import echo as E  # noqa: E402

VAD_DBFS = -40  # the fake cloud's VAD threshold (tools/cloud/vad.py)


@pytest.fixture
def guard(monkeypatch):
    clock = U.Clock()
    monkeypatch.setattr(E, "time", clock)
    return E.EchoGuard(), clock


@pytest.mark.parametrize("echo_db", [-12, -6, 0])
@pytest.mark.parametrize("delay_ms", [5, 30, 60])
def test_bot_alone_never_triggers_and_goes_up_silent(guard, echo_db, delay_ms):
    g, clock = guard
    rows = U.run(g, clock, U.Room(echo_db=echo_db, delay_ms=delay_ms), 6000)
    assert g.barge_ins == 0 and not g.double_talk
    heard = [t for t, lv, mute, _, _ in rows if not mute and U.dbfs(lv) > VAD_DBFS]
    assert heard == [], "unmuted frames the cloud's VAD would hear: %r" % heard[:5]
    # It is the echo that was muted: loud enough that sending it would have been heard.
    assert max(U.dbfs(lv) for _, lv, _, _, _ in rows) > VAD_DBFS + 6


@pytest.mark.parametrize("echo_db", [-12, -6, 0])
def test_user_six_db_over_the_echo_is_heard_within_eight_frames(guard, echo_db):
    g, clock = guard
    rows = U.run(g, clock, U.Room(echo_db=echo_db, delay_ms=30, user_db=6, user_at_ms=3000),
                 4000)
    first = [t for t, _, _, barge, _ in rows if barge]
    assert first and 3000 < first[0] <= 3000 + 8 * 20, first
    assert len(first) == 1  # one decision per talk-over
    after = [mute for t, _, mute, _, _ in rows if first[0] <= t < first[0] + 200]
    assert not any(after), "the user's voice must go up unmuted"


def test_a_user_under_the_echo_does_not_trigger(guard):
    # A voice 6 dB *below* the echo cannot be told from it by level: not a barge-in (the
    # server's VAD never hears it either, so nothing is lost).
    g, clock = guard
    U.run(g, clock, U.Room(echo_db=-6, delay_ms=30, user_db=-6, user_at_ms=2000), 4000)
    assert g.barge_ins == 0


def test_the_room_tail_after_the_bot_stops_is_not_the_user(guard):
    g, clock = guard
    rows = U.run(g, clock, U.Room(echo_db=0, delay_ms=60, bot_until_ms=2000), 3000)
    assert g.barge_ins == 0
    tail = [U.dbfs(lv) for t, lv, mute, _, _ in rows if t > 2000 and not mute]
    assert tail and max(tail) < VAD_DBFS, tail[:8]


def test_no_reference_no_mute(guard):
    # Speaker silent: every frame goes up, whatever the mic hears (the user's normal turn).
    g, clock = guard
    for _ in range(50):
        clock.ms += 20
        g.process(20000)
        assert not g.mute and not g.active and not g.barge_in


def test_echo_return_is_bounded(guard):
    g, clock = guard
    for i in range(200):
        clock.ms += 4
        g.reference(U.to_bytes([30000, -30000] * 16), 32)
        if i % 5 == 4:
            g.process(1 << 18)  # the mic at full scale: the largest ratio there is
    assert g.erl_q <= E._ERL_MAX
    for i in range(2000):
        clock.ms += 4
        g.reference(U.to_bytes([30000, -30000] * 16), 32)
        if i % 5 == 4:
            g.process(200)
    assert g.erl_q >= E._ERL_MIN


def test_kernels_agree_with_portable():
    import random
    from array import array

    random.seed(23)
    try:
        for _ in range(200):
            slots = array("i", [random.getrandbits(15) if random.getrandbits(1) else 0
                                for _ in range(32)])
            cur = random.getrandbits(6) - 16  # < 0 too: behind the ring start
            num = random.getrandbits(random.choice((8, 20, 27)))
            first = random.getrandbits(1)
            start_spans = [random.getrandbits(15) for _ in range(E._LAGS)]
            start_erls = [random.randint(E._ERL_MIN, E._ERL_MAX) for _ in range(E._LAGS)]
            out = []
            for kernel in ("viper", "portable"):
                E.use_kernel(kernel)
                sp = array("i", start_spans)
                erls = array("i", start_erls)
                fast = E._fast
                top = (fast.spans if fast else E._p_spans)(slots, cur, sp, E._LAGS, E._WIDTH,
                                                            E._DECAY_Q8)
                best = (fast.tightest if fast else E._p_tightest)(erls, E._LAGS)
                (fast.learn if fast else E._p_learn)(erls, sp, E._LAGS, num, E._REF_FLOOR,
                                                     E._ERL_MIN, E._ERL_MAX, first)
                out.append((top, best, list(sp), list(erls)))
            assert out[0] == out[1]
    finally:
        E.use_kernel("viper")
