# The simulation's one timeline inside MicroPython: microseconds since the host's t=0.
#
# The host passes its t=0 as a ticks_us value: the unix port's ticks come from CLOCK_MONOTONIC,
# the clock CPython's event loop uses, so both sides agree to the microsecond (on the unix port
# at 64 bits the ticks period is 2**62, so the host's raw microseconds are a valid tick). Elapsed
# time is accumulated from short differences, so it stays right on a port whose ticks wrap sooner
# (2**30 us on the boards), as long as now_us() is called every few minutes: every bus poll does.
import time

_last = time.ticks_us()
_elapsed = 0


def start(t0_ticks_us):
    """Set t=0 to the host's tick value (may lie a little in the past)."""
    global _last, _elapsed
    now = time.ticks_us()
    _elapsed = time.ticks_diff(now, t0_ticks_us)
    _last = now


def now_us():
    global _last, _elapsed
    now = time.ticks_us()
    _elapsed += time.ticks_diff(now, _last)
    _last = now
    return _elapsed
