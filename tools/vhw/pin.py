"""`machine.Pin` and `machine.WDT` stand-ins with the ESP32 port's signatures and checks.

Pin(id, mode=-1, pull=-1, *, value=None, drive=None, hold=None), as in ports/esp32/machine_pin.c:
GPIO numbers are checked against the chip (ESP32: 0-19, 21-23, 25-27, 32-39, with 34-39
input-only; ESP32-S3: 0-21, 26-48), a bad mode / pull / trigger is a ValueError, an unknown
keyword a TypeError. value() in IN mode reads the level the test harness drives (or the pull
when nothing drives it); in OUT / OPEN_DRAIN it reads back the output latch, like the ESP32's
input-output GPIO mode. irq(handler, trigger) handlers run on edges of the driven level: soft
IRQs, scheduled - on the running asyncio loop if there is one, at once otherwise.

Harness side (not on the device): `drive(level)` sets the external level, `history` lists
(t_us, level) of every output change (the LED), `press()` / `release()` drive an active-low button.
"""

import asyncio

VALID = {
    "esp32": frozenset(list(range(0, 20)) + [21, 22, 23, 25, 26, 27] + list(range(32, 40))),
    "esp32s3": frozenset(list(range(0, 22)) + list(range(26, 49))),
}
INPUT_ONLY = {"esp32": frozenset(range(34, 40)), "esp32s3": frozenset()}
_UNSET = object()


class _MonoClock:
    def now_us(self):
        import time

        return time.monotonic_ns() // 1000


def make_pin(clock=None, chip="esp32"):
    """A Pin class bound to `clock` (anything with now_us()) and a chip's GPIO table."""
    if chip not in VALID:
        raise ValueError("unknown chip %r (esp32, esp32s3)" % chip)
    return type("Pin", (_PinBase,), {"clock": clock or _MonoClock(), "chip": chip,
                                     "_pins": {}})


class _PinBase:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_DOWN = 1
    PULL_UP = 2
    PULL_HOLD = 4
    IRQ_RISING = 1
    IRQ_FALLING = 2
    WAKE_LOW = 4
    WAKE_HIGH = 5
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    DRIVE_3 = 3
    _MODES = (IN, OUT, OPEN_DRAIN)

    def __new__(cls, id, *args, **kwargs):
        # One object per GPIO, like the port's static pin table: Pin(4) is Pin(4).
        if isinstance(id, bool) or not isinstance(id, int):
            raise TypeError("can't convert %s to int" % type(id).__name__)
        if id not in VALID[cls.chip]:
            raise ValueError("invalid pin")
        pin = cls._pins.get(id)
        if pin is None:
            pin = object.__new__(cls)
            pin.id = id
            pin.mode = None
            pin.pull = None
            pin._latch = 0
            pin._external = None
            pin._handler = None
            pin._trigger = 0
            pin.history = []
            pin.irq_count = 0
            cls._pins[id] = pin
        return pin

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        self._init(mode, pull, value, drive, hold)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        self._init(mode, pull, value, drive, hold)

    def _init(self, mode, pull, value, drive, hold):
        if mode not in (-1, None) and mode not in self._MODES:
            raise ValueError("invalid pin mode")
        if mode in (self.OUT, self.OPEN_DRAIN) and self.id in INPUT_ONLY[self.chip]:
            raise ValueError("pin can only be input")
        if pull not in (-1, None, self.PULL_UP, self.PULL_DOWN, self.PULL_UP | self.PULL_DOWN,
                        self.PULL_HOLD):
            raise ValueError("invalid pull")
        if drive is not None and drive not in (0, 1, 2, 3):
            raise ValueError("invalid drive strength")
        if value is not None:
            self._set_latch(1 if value else 0)
        if pull != -1:
            self.pull = pull
        if mode not in (-1, None):
            self.mode = mode
            if mode != self.IN:
                self._record()

    # -- the device API ---------------------------------------------------------------------

    def value(self, x=_UNSET):
        if x is _UNSET:
            return self._level()
        self._set_latch(1 if x else 0)
        return None

    def __call__(self, x=_UNSET):
        return self.value(x)

    def on(self):
        self._set_latch(1)

    def off(self):
        self._set_latch(0)

    def irq(self, handler=None, trigger=3, wake=None, hard=False):
        if trigger not in (1, 2, 3, self.WAKE_LOW, self.WAKE_HIGH):
            raise ValueError("bad trigger")
        if handler is not None and not callable(handler):
            raise TypeError("handler must be None or callable")
        self._handler = handler
        self._trigger = trigger if handler is not None else 0
        return self

    # -- behaviour ----------------------------------------------------------------------------

    def _level(self):
        if self.mode in (self.OUT,):
            return self._latch
        if self.mode == self.OPEN_DRAIN and self._latch == 0:
            return 0
        if self._external is not None:
            return self._external
        if self.pull is not None and self.pull & self.PULL_UP:
            return 1
        return 0

    def _set_latch(self, level):
        changed = level != self._latch
        self._latch = level
        if changed and self.mode in (self.OUT, self.OPEN_DRAIN):
            self._record()

    def _record(self):
        self.history.append((self.clock.now_us(), self._level()))

    # -- harness ------------------------------------------------------------------------------

    def drive(self, level):
        """Set the level outside the chip drives onto the pin (None = let go); fires IRQs."""
        before = self._level()
        self._external = None if level is None else (1 if level else 0)
        after = self._level()
        if before == after or self._handler is None:
            return
        edge = self.IRQ_RISING if after else self.IRQ_FALLING
        if self._trigger & edge or self._trigger == (self.WAKE_HIGH if after else self.WAKE_LOW):
            self.irq_count += 1
            try:
                asyncio.get_running_loop().call_soon(self._handler, self)
            except RuntimeError:
                self._handler(self)

    def press(self):
        """An active-low push button (to ground, pulled up): pressing pulls the pin low."""
        self.drive(0)

    def release(self):
        self.drive(None)

    def __repr__(self):
        return "Pin(%d)" % self.id


def make_wdt(clock=None, on_timeout=None):
    """A WDT class bound to `clock`; `on_timeout(wdt, late_ms)` is told of every missed feed."""
    return type("WDT", (_WDTBase,), {"clock": clock or _MonoClock(),
                                     "on_timeout": staticmethod(on_timeout) if on_timeout
                                     else None, "instances": []})


class _WDTBase:
    """machine.WDT(id=0, timeout=5000): once started it cannot be stopped or re-timed.

    A missed feed is recorded in `missed` as (deadline_us, ms_late); on the device it would
    reset the chip. Feeds are checked when they happen and by `check()` (call it at the end).
    """

    def __init__(self, id=0, timeout=5000):
        if isinstance(id, bool) or not isinstance(id, int) or isinstance(timeout, bool) or \
                not isinstance(timeout, int):
            raise TypeError("can't convert to int")
        if id != 0:
            raise ValueError("WDT(%d) doesn't exist" % id)
        if timeout <= 0:
            raise ValueError("WDT timeout too short")
        self.timeout_ms = timeout
        self.missed = []
        self.feeds = 0
        self._last_us = self.clock.now_us()
        type(self).instances.append(self)

    def feed(self):
        self.check()
        self.feeds += 1
        self._last_us = self.clock.now_us()

    def check(self):
        """Record a missed feed if the timeout passed since the last one; returns ms late."""
        now = self.clock.now_us()
        deadline = self._last_us + 1000 * self.timeout_ms
        late_ms = (now - deadline) // 1000
        if late_ms > 0 and (not self.missed or self.missed[-1][0] != deadline):
            self.missed.append((deadline, late_ms))
            if self.on_timeout is not None:
                self.on_timeout(self, late_ms)
        return max(late_ms, 0)
