# `machine` for the simulator under MicroPython: Pin, WDT, I2C, I2S and the module functions the
# app uses, with the ESP32 port's signatures and checks (ports/esp32/machine_pin.c, modmachine.c).
#
# simboot installs this module as sys.modules["machine"]. Harness side (never called by the app):
# configure(chip=...), drive(gpio, level) for the button, wdt_missed() for the report.
import vclock
from vi2s import I2S  # noqa: F401 - machine.I2S

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
_FREQS = (20_000_000, 40_000_000, 80_000_000, 160_000_000, 240_000_000)
_VALID = {
    "esp32": tuple(range(0, 20)) + (21, 22, 23, 25, 26, 27) + tuple(range(32, 40)),
    "esp32s3": tuple(range(0, 22)) + tuple(range(26, 49)),
}
_INPUT_ONLY = {"esp32": tuple(range(34, 40)), "esp32s3": ()}
_state = {"chip": "esp32", "freq": 160_000_000}
_external = {}  # gpio -> level the outside world drives (the button), absent = let go
resets = []


def configure(chip="esp32"):
    if chip not in _VALID:
        raise ValueError("unknown chip %r" % chip)
    _state["chip"] = chip


def drive(gpio, level):
    """Harness: drive a pin from outside (None lets go); an active-low button presses with 0."""
    if level is None:
        _external.pop(gpio, None)
    else:
        _external[gpio] = 1 if level else 0


class MachineReset(BaseException):
    """machine.reset() was called: on the board it never returns."""


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_DOWN = 1
    PULL_UP = 2
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if isinstance(id, bool) or not isinstance(id, int):
            raise TypeError("can't convert to int")
        if id not in _VALID[_state["chip"]]:
            raise ValueError("invalid pin")
        self.id = id
        self.mode = None
        self.pull = None
        self._latch = 0
        self.changes = 0  # output edges (the LED)
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        if mode not in (-1, None, self.IN, self.OUT, self.OPEN_DRAIN):
            raise ValueError("invalid pin mode")
        if mode in (self.OUT, self.OPEN_DRAIN) and self.id in _INPUT_ONLY[_state["chip"]]:
            raise ValueError("pin can only be input")
        if pull not in (-1, None, self.PULL_UP, self.PULL_DOWN):
            raise ValueError("invalid pull")
        if value is not None:
            self._latch = 1 if value else 0
        if pull != -1:
            self.pull = pull
        if mode not in (-1, None):
            self.mode = mode

    def value(self, x=None):
        if x is not None:
            level = 1 if x else 0
            if level != self._latch:
                self.changes += 1
            self._latch = level
            return None
        if self.mode == self.OUT:
            return self._latch
        level = _external.get(self.id)
        if level is not None:
            return level
        return 1 if self.pull == self.PULL_UP else 0

    def __call__(self, x=None):
        return self.value(x)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


_wdts = []


class WDT:
    """Once started it cannot be stopped; a missed feed is recorded (the board would reset)."""

    def __init__(self, id=0, timeout=5000):
        if id != 0:
            raise ValueError("WDT(%d) doesn't exist" % id)
        if timeout <= 0:
            raise ValueError("WDT timeout too short")
        self.timeout_ms = timeout
        self.missed = 0
        self.feeds = 0
        self._last = vclock.now_us()
        _wdts.append(self)

    def check(self):
        if vclock.now_us() - self._last > 1000 * self.timeout_ms:
            self.missed += 1
            self._last = vclock.now_us()

    def feed(self):
        self.check()
        self.feeds += 1
        self._last = vclock.now_us()


def wdt_missed():
    for wdt in _wdts:
        wdt.check()
    return sum(wdt.missed for wdt in _wdts)


# ES8311 registers after power-on that the driver reads back (the codec board).
_ES8311_RESET = {0x00: 0x1F, 0x06: 0x03, 0xFD: 0x83, 0xFE: 0x11}
_i2c_devices = {}


class I2C:
    def __init__(self, id, *, scl, sda, freq=400000, timeout=50000):
        if id not in (0, 1):
            raise ValueError("I2C(%d) doesn't exist" % id)
        if not _i2c_devices:
            regs = bytearray(256)
            for reg, value in _ES8311_RESET.items():
                regs[reg] = value
            _i2c_devices[0x18] = regs
        self.freq = freq

    def _device(self, addr):
        regs = _i2c_devices.get(addr)
        if regs is None:
            raise OSError(19)  # ENODEV, as the port raises for an address nobody answers
        return regs

    def scan(self):
        return sorted(_i2c_devices)

    def readfrom_mem_into(self, addr, reg, buf, *, addrsize=8):
        regs = self._device(addr)
        for i in range(len(buf)):
            buf[i] = regs[(reg + i) & 0xFF]

    def readfrom_mem(self, addr, reg, n, *, addrsize=8):
        buf = bytearray(n)
        self.readfrom_mem_into(addr, reg, buf)
        return bytes(buf)

    def writeto_mem(self, addr, reg, buf, *, addrsize=8):
        regs = self._device(addr)
        for i in range(len(buf)):
            regs[(reg + i) & 0xFF] = buf[i]


def reset():
    resets.append(HARD_RESET)
    raise MachineReset("machine.reset()")


def soft_reset():
    resets.append(SOFT_RESET)
    raise MachineReset("machine.soft_reset()")


def reset_cause():
    return PWRON_RESET


def unique_id():
    return b"\x24\x0a\xc4\x12\x34\x56"


def freq(hz=None):
    if hz is None:
        return _state["freq"]
    if hz not in _FREQS:
        raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
    _state["freq"] = hz


def idle():
    pass


def disable_irq():
    return 0


def enable_irq(state=0):
    pass
