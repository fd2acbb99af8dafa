# Host side of lib/compat.py: what lets device code run unchanged on CPython (the simulator,
# pytest, the host tools) and on host fakes under MicroPython (tests/mp, the WebAssembly bench).
#
# Importing it (`from tools import hostcompat`; MicroPython tiers: `import hostcompat`, the
# runners put this file on their sys.path) does two things:
# 1. On CPython it installs what the device code expects from the MicroPython runtime:
#   - a `micropython` module with `const` and the `native` / `viper` decorators as no-ops, so
#     `@micropython.viper` functions run as plain Python (they are written to be valid in both);
#   - `time.ticks_ms/us/cpu`, `ticks_diff`, `ticks_add`, `sleep_ms`, `sleep_us` with MicroPython's
#     wrap-around period, so code that gets `ticks_diff` wrong fails on the host too;
#   - `asyncio.sleep_ms` and `asyncio.wait_for_ms`; `sys.print_exception`;
#   - tools/hostws.py as websock.stream and websock.tls: the client's I/O on CPython's streams
#     and ssl (the device's modules have MicroPython's only).
# 2. It stands in for the device's `compat` module (sys.modules["compat"]): its stream_reader /
#    stream_writer also serve the host fakes' stream contract (below), which the device's own
#    compat (asyncio.StreamReader/StreamWriter over machine.I2S only) does not.
# Host entry points import it before any device module. Nothing here is deployed.
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


def _install_sys():
    # MicroPython's sys.print_exception(exc, file=sys.stdout).
    if hasattr(sys, "print_exception"):
        return
    import traceback

    def print_exception(exc, file=None):
        traceback.print_exception(exc, file=file or sys.stdout)

    sys.print_exception = print_exception


# The host's tick source, in ns. The simulator swaps in its event loop's clock for a run on
# virtual time (use_clock_ns), so the app's ticks and the loop's timers are one clock.
_clock_ns = [None]


def use_clock_ns(fn=None):
    """Host only: read ticks from fn() (ns) instead of time.monotonic_ns; None restores."""
    import time

    _clock_ns[0] = fn or time.monotonic_ns


def _install_time():
    import time

    if hasattr(time, "ticks_ms"):
        return
    use_clock_ns()
    time.ticks_ms = lambda: (_clock_ns[0]() // 1_000_000) & _TICKS_MAX
    time.ticks_us = lambda: (_clock_ns[0]() // 1_000) & _TICKS_MAX
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
    _install_sys()
    _install_time()
    _install_asyncio()
    # The WebSocket client's I/O on CPython streams and ssl (websock.stream, websock.tls).
    from tools import hostws

    hostws.install()


# -- I2S streams -----------------------------------------------------------------------------
# Device code reads the mic with `await reader.readinto(buf)` and plays with `writer.write(buf)`
# + `await writer.drain()`. On the board these are asyncio.StreamReader/StreamWriter over
# machine.I2S. A host fake (tools/vhw/i2s.py) cannot be polled by asyncio, so it offers a small
# non-blocking contract instead, and the adapters below poll it:
#     obj.readinto_nowait(buf) -> bytes copied now (0 when no DMA buffer is ready)
#     obj.write_nowait(buf)    -> bytes accepted now (0 when the DMA is full)
#     obj.wait_ms()            -> ms until that can change (>= 1)
#     obj.clock.sleep_ms(ms)   -> optional awaitable sleep on the fake's own (virtual) clock
# Any object with readinto_nowait/write_nowait gets the adapter, on CPython and on MicroPython
# (the MicroPython test tier uses this with an in-memory fake); anything else takes the
# device's path, as lib/compat.py does it.


def _sleeper(obj):
    clock = getattr(obj, "clock", None)
    if clock is not None:
        return clock.sleep_ms
    import asyncio

    return asyncio.sleep_ms


class PollReader:
    """asyncio.StreamReader's readinto() over the host stream contract."""

    def __init__(self, obj):
        self._s = obj
        self._sleep = _sleeper(obj)

    async def readinto(self, buf):
        # Like the port in asyncio mode: returns what the DMA holds (maybe less than len(buf)).
        while True:
            n = self._s.readinto_nowait(buf)
            if n:
                return n
            await self._sleep(self._s.wait_ms())


class PollWriter:
    """asyncio.StreamWriter's write()/drain() over the host stream contract.

    write() hands what fits to the DMA now and copies the rest (the caller may reuse its buffer
    at once, as with MicroPython's StreamWriter); drain() waits until all of it is accepted.
    The copy buffer grows to the largest pending write and is then reused.
    """

    def __init__(self, obj):
        self._s = obj
        self._sleep = _sleeper(obj)
        self._pending = bytearray(0)
        self._start = 0
        self._end = 0

    def write(self, buf):
        if self._end == self._start:
            n = self._s.write_nowait(buf)
            if n == len(buf):
                return
            buf = memoryview(buf)[n:]
            self._start = self._end = 0
        need = self._end + len(buf)
        if need > len(self._pending):
            grown = bytearray(need)
            grown[: self._end] = self._pending[: self._end]
            self._pending = grown
        self._pending[self._end : need] = buf
        self._end = need

    async def drain(self):
        if self._end == self._start:
            await self._sleep(0)
            return
        mv = memoryview(self._pending)
        while self._start < self._end:
            self._start += self._s.write_nowait(mv[self._start : self._end])
            if self._start < self._end:
                await self._sleep(self._s.wait_ms())
        self._start = self._end = 0

    def discard(self):
        """Forget what has not reached the DMA yet (barge-in)."""
        self._start = self._end = 0


def _to_asyncio_mode(obj):
    # machine.I2S only switches to its non-blocking "asyncio" mode when it is first polled. A
    # StreamWriter whose writes always fit never polls, so every write would block the whole
    # event loop until the DMA has room. One zero-timeout poll switches the mode up front.
    # (StreamReader.readinto always polls before reading, so the mic needs no such step.)
    import select

    poller = select.poll()
    poller.register(obj, select.POLLOUT)
    poller.poll(0)


def stream_reader(obj):
    """An object with `async readinto(buf)` for an I2S RX bus (or a host fake)."""
    if hasattr(obj, "readinto_nowait"):
        return PollReader(obj)
    import asyncio

    return asyncio.StreamReader(obj)


def stream_writer(obj):
    """An object with `write(buf)` and `async drain()` for an I2S TX bus (or a host fake)."""
    if hasattr(obj, "write_nowait"):
        return PollWriter(obj)
    import asyncio

    if IS_MICROPYTHON:
        _to_asyncio_mode(obj)
    return asyncio.StreamWriter(obj, {})


def stream_writer_asyncio(obj, extra=None):
    """asyncio.StreamWriter(obj, extra)'s signature over the host stream contract: for a port
    whose asyncio has no streams (WebAssembly), so the device's compat can run on it."""
    return PollWriter(obj)


sys.modules["compat"] = sys.modules[__name__]
