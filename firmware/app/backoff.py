# Reconnect delays: exponential from 1 s doubling to 30 s, with jitter, and a per-minute cap.
#
# Jitter keeps a fleet of devices from reconnecting in lock step after a cloud outage. The cap
# bounds reconnect attempts per minute whatever the jitter draws. Pure logic: the caller supplies
# the clock (ticks_ms) and a random source, so tests are deterministic.
import time

try:
    from random import getrandbits
except ImportError:  # pragma: no cover - every MicroPython port has random.getrandbits
    getrandbits = None


class Backoff:
    def __init__(self, first_ms=1000, max_ms=30000, jitter=0.25, per_minute=10, rand=None):
        self.first_ms = first_ms
        self.max_ms = max_ms
        self.jitter = jitter
        self.per_minute = per_minute
        self._rand = rand or _random_fraction
        self.attempt = 0
        self._recent = []  # ticks of recent attempts, at most per_minute entries

    def reset(self):
        self.attempt = 0

    def base_ms(self):
        delay = self.first_ms << min(self.attempt, 16)
        return min(delay, self.max_ms)

    def next_ms(self, now=None):
        """Delay before the next attempt, and count it."""
        now = time.ticks_ms() if now is None else now
        base = self.base_ms()
        # Spread +-jitter around the base, never past max_ms.
        delay = int(base * (1 - self.jitter + 2 * self.jitter * self._rand()))
        delay = max(0, min(delay, self.max_ms))
        self._recent = [t for t in self._recent if time.ticks_diff(now, t) < 60000]
        if len(self._recent) >= self.per_minute:
            # The oldest attempt of the window must age out before another is allowed.
            wait = 60000 - time.ticks_diff(now, self._recent[0])
            delay = max(delay, wait)
        self._recent.append(time.ticks_add(now, delay))
        self.attempt += 1
        return delay


def _random_fraction():
    return getrandbits(16) / 65536
