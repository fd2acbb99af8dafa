"""machine.Pin / WDT / module stand-ins: real signatures, real rejections, harness-driven edges."""

import asyncio

import pytest

from tools.vhw.machine import MachineReset, make_machine
from tools.vhw.pin import make_pin, make_wdt


class ManualClock:
    def __init__(self):
        self.us = 0

    def now_us(self):
        return self.us


def test_pin_signature_and_rejections_match_the_esp32_port():
    Pin = make_pin(ManualClock(), "esp32")
    with pytest.raises(ValueError, match="invalid pin"):
        Pin(20)  # GPIO20 does not exist on the ESP32
    with pytest.raises(ValueError, match="invalid pin"):
        Pin(40)
    with pytest.raises(TypeError):
        Pin("4")
    with pytest.raises(ValueError, match="invalid pin mode"):
        Pin(4, 42)
    with pytest.raises(ValueError, match="invalid pull"):
        Pin(4, Pin.IN, 9)
    with pytest.raises(ValueError, match="only be input"):
        Pin(35, Pin.OUT)
    with pytest.raises(TypeError):
        Pin(4, Pin.OUT, pul=Pin.PULL_UP)  # misspelt keyword
    with pytest.raises(TypeError):
        Pin(4, Pin.OUT, -1, 1)  # value is keyword-only
    with pytest.raises(ValueError, match="bad trigger"):
        Pin(4, Pin.IN).irq(lambda p: None, trigger=8)
    assert Pin(35, Pin.IN).value() == 0
    assert Pin(4) is Pin(4)  # one object per GPIO, like the port's pin table
    S3 = make_pin(ManualClock(), "esp32s3")
    assert S3(48, S3.OUT) and S3(35, S3.OUT)
    with pytest.raises(ValueError):
        S3(22)
    assert (Pin.IN, Pin.OUT, Pin.PULL_UP, Pin.PULL_DOWN, Pin.IRQ_RISING, Pin.IRQ_FALLING) == \
        (1, 3, 2, 1, 1, 2)


def test_output_latch_history_and_on_off():
    clock = ManualClock()
    Pin = make_pin(clock)
    led = Pin(2, Pin.OUT, value=0)
    clock.us = 1000
    led.on()
    clock.us = 2500
    led.value(0)
    led(0)  # no change, no history entry
    clock.us = 3000
    led(1)
    assert led.value() == 1 and led() == 1
    assert led.history == [(0, 0), (1000, 1), (2500, 0), (3000, 1)]
    held = Pin(5, Pin.IN, value=1)  # latch set while input: no output yet
    assert held.value() == 0 and held.history == []
    held.init(Pin.OUT)
    assert held.value() == 1


def test_button_levels_and_irq_edges_without_a_loop():
    Pin = make_pin(ManualClock())
    button = Pin(0, Pin.IN, Pin.PULL_UP)
    assert button.value() == 1  # pulled up, nobody pressing
    seen = []
    button.irq(lambda p: seen.append(p.value()), trigger=Pin.IRQ_FALLING)
    button.press()
    assert button.value() == 0 and seen == [0]
    button.release()
    assert button.value() == 1 and seen == [0]  # rising edge not subscribed
    button.irq(lambda p: seen.append(("both", p.value())))  # default trigger: both edges
    button.press()
    button.release()
    assert seen[1:] == [("both", 0), ("both", 1)]
    button.irq(None)
    button.press()
    assert len(seen) == 3


def test_irq_handlers_are_scheduled_on_the_running_loop():
    Pin = make_pin(ManualClock())
    button = Pin(0, Pin.IN, Pin.PULL_UP)
    seen = []

    async def go():
        button.irq(lambda p: seen.append(p), Pin.IRQ_FALLING | Pin.IRQ_RISING)
        button.press()
        assert seen == []  # soft IRQ: runs after the current code yields
        await asyncio.sleep(0)
        assert seen == [button]

    asyncio.run(go())


def test_wdt_reports_a_missed_feed():
    clock = ManualClock()
    told = []
    WDT = make_wdt(clock, lambda wdt, late: told.append(late))
    with pytest.raises(ValueError):
        WDT(id=1)
    with pytest.raises(ValueError):
        WDT(timeout=0)
    with pytest.raises(TypeError):
        WDT(timout=1000)
    wdt = WDT(timeout=2000)
    clock.us = 1_900_000
    wdt.feed()
    clock.us = 3_800_000
    wdt.feed()
    assert wdt.missed == [] and wdt.feeds == 2
    clock.us = 6_300_000  # 2.5 s after the last feed
    assert wdt.check() == 500
    wdt.check()
    assert wdt.missed == [(5_800_000, 500)] and told == [500]


def test_machine_module_functions():
    clock = ManualClock()
    m = make_machine(clock, reset_on_wdt=True)
    assert m.unique_id() == b"\x24\x0a\xc4\x12\x34\x56"
    assert m.freq() == 160_000_000
    m.freq(240_000_000)
    assert m.freq() == 240_000_000
    with pytest.raises(ValueError):
        m.freq(100_000_000)
    assert m.reset_cause() == m.PWRON_RESET
    with pytest.raises(MachineReset):
        m.reset()
    try:
        m.reset()
    except Exception:  # noqa: BLE001 - the point: an app's `except Exception` cannot catch it
        pytest.fail("reset() must not be catchable as Exception")
    except MachineReset:
        pass
    wdt = m.WDT(timeout=1000)
    clock.us = 2_000_000
    with pytest.raises(MachineReset):
        wdt.feed()
    assert m.resets == [m.HARD_RESET, m.HARD_RESET, m.WDT_RESET]
    led = m.Pin(2, m.Pin.OUT)
    led.on()
    assert led.value() == 1


def test_machine_has_the_i2s_stand_in_when_it_is_there():
    try:
        import tools.vhw.i2s  # noqa: F401
    except ImportError:
        pytest.skip("tools/vhw/i2s.py is not in this tree")
    from tools.vhw.clock import VirtualClock

    m = make_machine(VirtualClock())
    with pytest.raises(TypeError):
        m.I2S(0, sck=m.Pin(5), ws=m.Pin(4), sd=m.Pin(6), mode=m.I2S.RX, bits=16,
              format=m.I2S.MONO, rate=16000, ibuf=4096, bogus=1)
    bus = m.I2S(0, sck=m.Pin(5), ws=m.Pin(4), sd=m.Pin(6), mode=m.I2S.RX, bits=16,
                format=m.I2S.MONO, rate=16000, ibuf=4096)
    bus.deinit()
