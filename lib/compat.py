# Lets device code run unchanged on CPython (the simulator and pytest).
#
# On MicroPython importing this module does nothing. On CPython it installs what the device code
# expects from the MicroPython runtime:
#   - a `micropython` module with `const` and the `native` / `viper` decorators as no-ops, so
#     `@micropython.viper` functions run as plain Python (they are written to be valid in both);
#   - `time.ticks_ms/us/cpu`, `ticks_diff`, `ticks_add`, `sleep_ms`, `sleep_us` with MicroPython's
#     wrap-around period, so code that gets `ticks_diff` wrong fails on the host too;
#   - `asyncio.sleep_ms` and `asyncio.wait_for_ms`.
# Host entry points (tests/conftest.py, tools/) import it before any device module.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

# MicroPython's ticks wrap at 2**30 on every port (MICROPY_PY_TIME_TICKS_PERIOD).
TICKS_PERIOD = 1 << 30
_TICKS_MAX = TICKS_PERIOD - 1
_TICKS_HALF = TICKS_PERIOD // 2


def ticks_add(ticks, delta):
    return (ticks + delta) & _TICKS_MAX


def ticks_diff(end, start):
    # Signed difference in (-PERIOD/2, PERIOD/2], exactly as MicroPython defines it.
    return ((end - start + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF


def _passthrough(func):
    return func


def _install_micropython_module():
    import types

    if "micropython" in sys.modules:
        return
    mod = types.ModuleType("micropython")
    mod.const = _passthrough
    mod.native = _passthrough
    mod.viper = _passthrough
    sys.modules["micropython"] = mod


def _install_time():
    import time

    if hasattr(time, "ticks_ms"):
        return
    time.ticks_ms = lambda: (time.monotonic_ns() // 1_000_000) & _TICKS_MAX
    time.ticks_us = lambda: (time.monotonic_ns() // 1_000) & _TICKS_MAX
    time.ticks_cpu = time.ticks_us
    time.ticks_add = ticks_add
    time.ticks_diff = ticks_diff
    time.sleep_ms = lambda ms: time.sleep(ms / 1000)
    time.sleep_us = lambda us: time.sleep(us / 1_000_000)


def _install_asyncio():
    import asyncio

    if hasattr(asyncio, "sleep_ms"):
        return

    async def sleep_ms(ms):
        await asyncio.sleep(ms / 1000)

    async def wait_for_ms(awaitable, timeout_ms):
        return await asyncio.wait_for(awaitable, timeout_ms / 1000)

    asyncio.sleep_ms = sleep_ms
    asyncio.wait_for_ms = wait_for_ms


if not IS_MICROPYTHON:
    _install_micropython_module()
    _install_time()
    _install_asyncio()
