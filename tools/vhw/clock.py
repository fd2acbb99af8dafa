"""Time sources for the virtual hardware (tools/vhw): one for real time, one that tests drive.

Both give monotonic microseconds (`now_us`), MicroPython-style wrapped ticks, and an awaitable
`sleep_ms`. The fakes (vhw.i2s) compute how many samples the DMA has moved from `now_us`, so a
fake driven by a VirtualClock is exactly reproducible: nothing moves until the test calls
`await clock.advance(ms)`, which wakes every sleeper whose deadline passed, in deadline order, at
that exact virtual time, and lets the woken tasks run before moving on.
"""

import asyncio
import heapq
import itertools
import time

TICKS_PERIOD = 1 << 30
_MASK = TICKS_PERIOD - 1


class _Ticks:
    """MicroPython-style wrapped ticks from now_us()."""

    def ticks_us(self):
        return self.now_us() & _MASK

    def ticks_ms(self):
        return (self.now_us() // 1000) & _MASK


class RealClock(_Ticks):
    """Wall-clock monotonic time; sleep_ms is asyncio.sleep."""

    virtual = False

    def __init__(self):
        self._t0 = time.monotonic_ns()

    def now_us(self):
        return (time.monotonic_ns() - self._t0) // 1000

    async def sleep_ms(self, ms):
        await asyncio.sleep(max(ms, 0) / 1000)

    def sleep_blocking_us(self, us):
        time.sleep(max(us, 0) / 1_000_000)


class LoopClock(_Ticks):
    """The running event loop's clock (loop.time()); sleep_ms is asyncio.sleep.

    Under a time-compacting loop (looptime) this is virtual time that jumps to the next timer
    whenever every task waits; under a plain loop it is real monotonic time."""

    virtual = False  # sleeps are asyncio sleeps either way: the stream path works unchanged

    def __init__(self, loop=None):
        self._loop = loop or asyncio.get_running_loop()
        self._t0 = self.now_ns_abs()

    def now_ns_abs(self):
        return int(self._loop.time() * 1e9)

    def now_us(self):
        return (self.now_ns_abs() - self._t0) // 1000

    async def sleep_ms(self, ms):
        await asyncio.sleep(max(ms, 0) / 1000)

    def sleep_blocking_us(self, us):
        raise RuntimeError("a blocking I2S call would stall the loop's clock: use the stream "
                           "path (compat.stream_reader/stream_writer)")


class VirtualClock:
    """Virtual monotonic time that only moves when a test advances it.

    `sleep_ms` parks the caller until `advance` reaches its deadline. `settle_rounds` is how many
    event-loop turns `advance` gives woken tasks at each deadline (chains of wake-ups that are
    longer than this are a test bug, and show up as a timing difference, not a hang).
    """

    virtual = True

    def __init__(self, start_us=0, settle_rounds=30):
        self._us = start_us
        self._sleepers = []
        self._seq = itertools.count()
        self.settle_rounds = settle_rounds

    def now_us(self):
        return self._us

    def ticks_us(self):
        return self._us & _MASK

    def ticks_ms(self):
        return (self._us // 1000) & _MASK

    async def sleep_ms(self, ms):
        if ms <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._us + int(ms * 1000), next(self._seq), future))
        await future

    def sleep_blocking_us(self, us):
        raise RuntimeError(
            "a blocking call would have to wait %d us of virtual time; use the non-blocking "
            "stream path (compat.stream_reader/stream_writer) with a VirtualClock" % us
        )

    def next_deadline_us(self):
        """Virtual time of the earliest sleeper, or None."""
        self._drop_cancelled()
        return self._sleepers[0][0] if self._sleepers else None

    def _drop_cancelled(self):
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    async def settle(self):
        for _ in range(self.settle_rounds):
            await asyncio.sleep(0)

    async def advance(self, ms):
        """Move time forward by `ms`, waking sleepers at their exact deadlines."""
        target = self._us + int(ms * 1000)
        await self.settle()
        while True:
            self._drop_cancelled()
            if not self._sleepers or self._sleepers[0][0] > target:
                break
            deadline = self._sleepers[0][0]
            self._us = max(self._us, deadline)
            while self._sleepers and self._sleepers[0][0] <= deadline:
                future = heapq.heappop(self._sleepers)[2]
                if not future.done():
                    future.set_result(None)
            await self.settle()
        self._us = target
        await self.settle()

    async def run_until(self, predicate, limit_ms, step_ms=1):
        """Advance in steps until predicate() is true; returns the virtual ms it took."""
        waited = 0
        while not predicate():
            if waited >= limit_ms:
                raise TimeoutError("condition not met within %d virtual ms" % limit_ms)
            await self.advance(step_ms)
            waited += step_ms
        return waited
