"""tools/hostcompat.py gives CPython the MicroPython APIs device code uses, with the same
semantics."""

import asyncio
import time

import micropython

from tools import hostcompat as compat


def test_ticks_wrap_like_micropython():
    near_end = compat.TICKS_PERIOD - 5
    later = time.ticks_add(near_end, 10)
    assert later == 5
    assert time.ticks_diff(later, near_end) == 10
    assert time.ticks_diff(near_end, later) == -10


def test_ticks_advance():
    start = time.ticks_ms()
    time.sleep_ms(20)
    assert time.ticks_diff(time.ticks_ms(), start) >= 19


def test_decorators_and_const_are_passthrough():
    @micropython.viper
    def add(a: int, b: int) -> int:
        return a + b

    assert add(2, 3) == 5
    assert micropython.native(add) is add
    assert micropython.const(42) == 42


def test_asyncio_sleep_ms_and_wait_for_ms():
    async def main():
        await asyncio.sleep_ms(1)
        try:
            await asyncio.wait_for_ms(asyncio.sleep_ms(1000), 10)
        except TimeoutError:
            return "timed out"
        return "finished"

    assert asyncio.run(main()) == "timed out"
