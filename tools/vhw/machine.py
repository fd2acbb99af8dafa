"""Assemble a fake `machine` module: Pin, WDT, I2S and the module-level functions the app uses.

    machine = make_machine(clock, chip="esp32", mic_sources={0: PcmSource(pcm)})

I2S comes from tools/vhw/i2s.py (make_i2s) when it is importable; without it the module simply
has no I2S, so `machine.I2S` fails the way a port without I2S would (AttributeError).
reset() raises MachineReset, a BaseException, so an app's `except Exception` cannot swallow what
on the device never returns; `resets` counts them. freq() accepts only the ESP32's CPU clocks.
"""

import types

from tools.vhw.pin import make_pin, make_wdt

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
_FREQS = (20_000_000, 40_000_000, 80_000_000, 160_000_000, 240_000_000)


class MachineReset(BaseException):
    """machine.reset() / soft_reset() was called (or the watchdog fired with reset_on_wdt)."""

    def __init__(self, cause):
        BaseException.__init__(self, "machine reset (cause %d)" % cause)
        self.cause = cause


def _default_clock():
    try:
        from tools.vhw.clock import RealClock
    except ImportError:
        from tools.vhw.pin import _MonoClock

        return _MonoClock()
    return RealClock()


def make_machine(clock=None, chip="esp32", mic_sources=None, unique=b"\x24\x0a\xc4\x12\x34\x56",
                 reset_on_wdt=False, room=None):
    clock = clock or _default_clock()
    mod = types.ModuleType("machine")
    state = {"freq": 160_000_000, "cause": PWRON_RESET, "irq": 0}
    mod.resets = []  # causes, in order
    mod.clock = clock

    def on_timeout(wdt, late_ms):
        if reset_on_wdt:
            mod.resets.append(WDT_RESET)
            raise MachineReset(WDT_RESET)

    mod.Pin = make_pin(clock, chip)
    mod.WDT = make_wdt(clock, on_timeout)
    try:
        from tools.vhw.i2s import make_i2s
    except ImportError:
        make_i2s = None
    if make_i2s is not None:
        mod.I2S = make_i2s(clock, mic_sources, room)  # room: speaker -> mic (vroom.Room)
    from tools.vhw.i2c import ES8311_RESET, RegisterDevice, make_i2c

    # The codec boards' ES8311 answers at its default address; other buses are empty.
    mod.i2c_devices = {0x18: RegisterDevice(ES8311_RESET)}
    mod.I2C = make_i2c(mod.i2c_devices)
    for name in ("PWRON_RESET", "HARD_RESET", "WDT_RESET", "DEEPSLEEP_RESET", "SOFT_RESET"):
        setattr(mod, name, globals()[name])
    mod.MachineReset = MachineReset

    def reset():
        mod.resets.append(HARD_RESET)
        raise MachineReset(HARD_RESET)

    def soft_reset():
        mod.resets.append(SOFT_RESET)
        raise MachineReset(SOFT_RESET)

    def reset_cause():
        return state["cause"]

    def unique_id():
        return bytes(unique)

    def freq(*args):
        if not args:
            return state["freq"]
        if len(args) > 1:
            raise TypeError("function takes at most 1 positional argument")
        hz = args[0]
        if hz not in _FREQS:
            raise ValueError("frequency must be 20MHz, 40MHz, 80Mhz, 160MHz or 240MHz")
        state["freq"] = hz
        return None

    def idle():
        return None

    def disable_irq():
        state["irq"] += 1
        return state["irq"]

    def enable_irq(s):
        state["irq"] = max(0, state["irq"] - 1)

    for fn in (reset, soft_reset, reset_cause, unique_id, freq, idle, disable_irq, enable_irq):
        setattr(mod, fn.__name__, fn)
    return mod
