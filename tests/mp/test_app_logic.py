# Button, backoff, LED, event queue and log logic under real MicroPython.
import asyncio

from app import state as S
from app.backoff import Backoff
from app.button import ButtonLogic
from app.events import EventQueue
from app.led import PATTERNS, is_on
from app.log import Log


def _feed(button, samples):
    """samples: (pressed, ms) pairs; returns [(ms, event), ...]."""
    out = []
    for pressed, ms in samples:
        for event in button.update(pressed, ms):
            out.append((ms, event))
    return out


def test_press_is_immediate_and_bounces_are_ignored():
    b = ButtonLogic(min_press_ms=200, debounce_ms=30)
    events = _feed(b, [(False, 0), (True, 10), (False, 12), (True, 15), (True, 50), (True, 300),
                       (False, 310), (True, 320), (False, 330), (False, 400)])
    assert events == [(10, S.E_PRESS), (310, S.E_RELEASE)]


def test_short_press_is_reported_as_short():
    b = ButtonLogic(min_press_ms=200)
    assert _feed(b, [(True, 0), (False, 150)]) == [(0, S.E_PRESS), (150, S.E_RELEASE_SHORT)]


def test_double_press():
    b = ButtonLogic(min_press_ms=200, double_ms=400)
    events = _feed(b, [(True, 0), (False, 80), (True, 300), (False, 380)])
    assert events == [(0, S.E_PRESS), (80, S.E_RELEASE_SHORT), (300, S.E_PRESS),
                      (380, S.E_RELEASE_SHORT), (380, S.E_DOUBLE_PRESS)]
    # Too slow a second tap is two single taps.
    b = ButtonLogic(min_press_ms=200, double_ms=400)
    events = _feed(b, [(True, 0), (False, 80), (True, 900), (False, 980)])
    assert [e for _, e in events].count(S.E_DOUBLE_PRESS) == 0


def test_long_press_fires_once_while_held():
    b = ButtonLogic(long_press_ms=3000)
    samples = [(True, 0)] + [(True, t) for t in range(100, 4000, 100)] + [(False, 4000)]
    events = _feed(b, samples)
    assert events == [(0, S.E_PRESS), (3000, S.E_LONG_PRESS), (4000, S.E_RELEASE)]


def test_backoff_doubles_to_30s_with_bounded_jitter():
    b = Backoff(rand=lambda: 0.5, per_minute=100)
    delays = [b.next_ms(now=0) for _ in range(7)]
    assert delays == [1000, 2000, 4000, 8000, 16000, 30000, 30000]
    low = Backoff(rand=lambda: 0.0, per_minute=100)
    high = Backoff(rand=lambda: 0.999, per_minute=100)
    assert low.next_ms(now=0) == 750 and 1240 <= high.next_ms(now=0) <= 1250
    b.reset()
    assert b.next_ms(now=0) == 1000


def test_backoff_caps_attempts_per_minute():
    b = Backoff(first_ms=0, rand=lambda: 0.5, per_minute=3)
    assert [b.next_ms(now=0) for _ in range(3)] == [0, 0, 0]
    assert b.next_ms(now=10) >= 59990  # the 4th attempt in a minute waits for the window


def test_every_state_has_a_distinct_led_pattern():
    assert len(PATTERNS) == len(S.STATE_NAMES)
    assert len(set(PATTERNS.values())) == len(PATTERNS)
    assert is_on(S.LISTENING, 12345) and not is_on(S.IDLE, 5)
    assert is_on(S.READY, 10) and not is_on(S.READY, 100)


async def test_event_queue_orders_bounds_and_wakes():
    q = EventQueue(size=4)
    for i in range(6):
        q.post(i, "arg%d" % i)
    assert len(q) == 4 and q.dropped == 2
    assert [q.get_nowait() for _ in range(4)] == [(2, "arg2"), (3, "arg3"), (4, "arg4"),
                                                 (5, "arg5")]
    assert q.get_nowait() is None

    async def later():
        await asyncio.sleep_ms(5)
        q.post(S.E_PRESS)

    task = asyncio.create_task(later())
    assert await q.get() == (S.E_PRESS, None)
    await task


def test_log_levels_and_secret_masking():
    lines = []
    log = Log(sink=lines.append)
    log.add_secret("pat_SECRET_123")
    log.debug("x", "hidden at info level")
    log.info("state", "READY -> LISTENING on PRESS")
    log.error("net", "refused: Bearer pat_SECRET_123 rejected")
    assert len(lines) == 2
    assert lines[0].endswith("I state  READY -> LISTENING on PRESS")
    assert "pat_SECRET_123" not in lines[1] and "<redacted>" in lines[1]
    log.set_level("debug")
    log.debug("x", "now shown")
    assert len(lines) == 3


def test_button_works_across_the_ticks_wrap():
    # ticks_ms wraps (2**30 ms, 12.4 days, on the ESP32): held times are ticks_diff, not a
    # subtraction of raw ticks.
    import time

    def at(ms):
        return time.ticks_add(0, ms)  # ms < 0: just before the wrap

    b = ButtonLogic(min_press_ms=200, long_press_ms=3000, double_ms=400)
    events = _feed(b, [(True, at(-100)), (True, at(40)), (False, at(150)),
                       (True, at(400)), (True, at(3500)), (False, at(3600)),
                       (True, at(4000)), (False, at(4080)), (True, at(4300)),
                       (False, at(4380))])
    assert [e for _, e in events] == [S.E_PRESS, S.E_RELEASE, S.E_PRESS, S.E_LONG_PRESS,
                                      S.E_RELEASE, S.E_PRESS, S.E_RELEASE_SHORT, S.E_PRESS,
                                      S.E_RELEASE_SHORT, S.E_DOUBLE_PRESS]
