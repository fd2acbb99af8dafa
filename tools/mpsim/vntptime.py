# `ntptime` for the simulator under MicroPython: settime() needs a connected station (else
# OSError -202, the ESP32's getaddrinfo failure). The unix port's clock is already the host's
# wall clock, so there is nothing to set; each call is counted.
import vclock
import vnetwork

host = "pool.ntp.org"
timeout = 1
calls = []


def settime():
    calls.append(vclock.now_us())
    if not vnetwork.WLAN(vnetwork.STA_IF).isconnected():
        raise OSError(-202)
