"""Put the virtual hardware into sys.modules so the app's `import machine` gets it.

    hw = install(sys.modules, clock=clock, wifi=Scenario(...), mic_sources={0: src})
    import machine            # -> hw.machine
    ...
    hw.uninstall()            # restores whatever was there before

Installs `machine`, `network`, `ntptime` and `esp32`. ntptime.settime() needs a connected STA
(else OSError -202, the ESP32's getaddrinfo failure) and fails with ETIMEDOUT when
`ntp_ok=False`; it records each call in `hw.ntp_calls`. esp32 carries the small, real-shaped
part of its API: HEAP_DATA / HEAP_EXEC, idf_heap_info(), mcu_temperature().
"""

import errno
import sys
import types

from tools.vhw.machine import make_machine
from tools.vhw.network import make_network

NAMES = ("machine", "network", "ntptime", "esp32")


class Installed:
    def __init__(self, sys_modules, modules, previous):
        self._sys_modules = sys_modules
        self._previous = previous
        self.modules = modules
        for name, mod in modules.items():
            setattr(self, name, mod)
        self.ntp_calls = modules["ntptime"].calls

    def uninstall(self):
        for name in NAMES:
            if self._previous.get(name) is None:
                self._sys_modules.pop(name, None)
            else:
                self._sys_modules[name] = self._previous[name]


def _make_ntptime(network, clock, ok):
    mod = types.ModuleType("ntptime")
    mod.host = "pool.ntp.org"
    mod.timeout = 1
    mod.calls = []

    def settime():
        mod.calls.append(clock.now_us())
        if not network.WLAN(network.STA_IF).isconnected():
            raise OSError(-202)
        if not ok:
            raise OSError(errno.ETIMEDOUT)

    def time_():
        settime()
        import time as _t

        return int(_t.time()) - 946684800  # seconds since 2000-01-01, the port's epoch

    mod.settime = settime
    mod.time = time_
    return mod


def _make_esp32(heap_total=110_000):
    mod = types.ModuleType("esp32")
    mod.HEAP_DATA = 4
    mod.HEAP_EXEC = 1

    def idf_heap_info(capabilities):
        if not isinstance(capabilities, int):
            raise TypeError("can't convert to int")
        # (total, free, largest free block, minimum free seen) per heap region.
        return [(heap_total, heap_total // 2, heap_total // 4, heap_total // 3)]

    mod.idf_heap_info = idf_heap_info
    mod.mcu_temperature = lambda: 42
    return mod


def install(sys_modules=None, clock=None, chip="esp32", wifi=None, mic_sources=None,
            ntp_ok=True, reset_on_wdt=False, room=None):
    """Install the fakes into `sys_modules` (default sys.modules); returns an Installed.
    `room` (a tools.mpsim.vroom.Room) is the echo path and noise from speaker to mic."""
    sys_modules = sys.modules if sys_modules is None else sys_modules
    machine = make_machine(clock, chip, mic_sources, reset_on_wdt=reset_on_wdt, room=room)
    network = make_network(machine.clock, wifi, chip)
    modules = {"machine": machine, "network": network,
               "ntptime": _make_ntptime(network, machine.clock, ntp_ok),
               "esp32": _make_esp32()}
    previous = {name: sys_modules.get(name) for name in NAMES}
    sys_modules.update(modules)
    return Installed(sys_modules, modules, previous)
