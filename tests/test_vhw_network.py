"""network.WLAN stand-in, the sys.modules installer, and the app's own Wi-Fi bring-up on them."""

import asyncio
import sys

import pytest

from tools.vhw.install import install
from tools.vhw.network import (
    STAT_CONNECTING,
    STAT_GOT_IP,
    STAT_IDLE,
    STAT_NO_AP_FOUND,
    STAT_WRONG_PASSWORD,
    Scenario,
    make_network,
)


class ManualClock:
    def __init__(self):
        self.us = 0

    def now_us(self):
        return self.us


def test_wlan_joins_after_the_scripted_delay():
    clock = ManualClock()
    net = make_network(clock, Scenario(ssid="home", key="k3y", join_ms=1200))
    wlan = net.WLAN(net.STA_IF)
    assert wlan is net.WLAN(net.STA_IF)
    with pytest.raises(OSError, match="Wifi Not Started"):
        wlan.connect("home", "k3y")
    wlan.active(True)
    assert wlan.active() and wlan.status() == STAT_IDLE
    wlan.connect("home", "k3y")
    clock.us = 1_199_000
    assert wlan.status() == STAT_CONNECTING and not wlan.isconnected()
    assert wlan.ifconfig()[0] == "0.0.0.0"
    clock.us = 1_200_000
    assert wlan.isconnected() and wlan.status() == STAT_GOT_IP
    assert wlan.ifconfig() == ("192.168.4.2", "255.255.255.0", "192.168.4.1", "192.168.4.1")
    assert wlan.status("rssi") == -52
    assert wlan.config("mac") == b"\x24\x0a\xc4\x12\x34\x56"
    wlan.config(hostname="voice")
    assert wlan.config("hostname") == "voice"
    with pytest.raises(ValueError):
        wlan.config("colour")
    with pytest.raises(ValueError):
        wlan.config(colour=1)
    with pytest.raises(TypeError):
        wlan.connect("home", "k3y", bsid=b"x")
    with pytest.raises(ValueError):
        net.WLAN(7)
    assert not hasattr(net, "STAT_CONNECT_FAIL")  # an ESP8266 name, absent on the ESP32
    net.scenario.drop()
    assert not wlan.isconnected()
    assert net.scenario.attempts == [(0, "home")]


@pytest.mark.parametrize("ssid,key,status", [("home", "nope", STAT_WRONG_PASSWORD),
                                             ("elsewhere", "k3y", STAT_NO_AP_FOUND)])
def test_wlan_failures(ssid, key, status):
    clock = ManualClock()
    net = make_network(clock, Scenario(ssid="home", key="k3y", join_ms=500))
    wlan = net.WLAN(net.STA_IF)
    wlan.active(True)
    wlan.connect(ssid, key)
    assert wlan.status() == STAT_CONNECTING
    clock.us = 600_000
    assert wlan.status() == status and not wlan.isconnected()


def test_install_puts_the_fakes_where_import_finds_them_and_restores():
    before = sys.modules.get("machine")
    hw = install(sys.modules, wifi=Scenario(join_ms=0), ntp_ok=True)
    try:
        import esp32
        import machine
        import network
        import ntptime

        assert machine is hw.machine and network is hw.network and esp32 is hw.esp32
        with pytest.raises(OSError):
            ntptime.settime()  # no Wi-Fi yet: the ESP32's getaddrinfo error
        wlan = network.WLAN(network.STA_IF)
        wlan.active(True)
        wlan.connect("sim-wifi", "sim-password")
        ntptime.settime()
        assert len(hw.ntp_calls) == 2
        assert machine.Pin(0, machine.Pin.IN, machine.Pin.PULL_UP).value() == 1
        assert esp32.idf_heap_info(esp32.HEAP_DATA)[0][0] > 0
    finally:
        hw.uninstall()
    assert sys.modules.get("machine") is before


def _wifi_app():
    try:
        from app import wifi
    except ImportError:
        pytest.skip("firmware/app/wifi.py is not in this tree")
    return wifi


@pytest.mark.parametrize("key,ssid,expect", [
    ("sim-password", "sim-wifi", None),
    ("wrong", "sim-wifi", "wrong Wi-Fi password"),
    ("sim-password", "other", "not found"),
])
def test_the_apps_wifi_bring_up_runs_on_the_stand_in(key, ssid, expect):
    wifi = _wifi_app()
    net = make_network(None, Scenario(join_ms=150))

    async def go():
        return await wifi.connect(net, ssid, key, timeout_ms=3000)

    if expect is None:
        wlan = asyncio.run(go())
        assert wlan.isconnected()
    else:
        with pytest.raises(wifi.WifiError, match=expect):
            asyncio.run(go())
