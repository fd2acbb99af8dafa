# Wi-Fi bring-up with a timeout and a clear reason on failure, then NTP time for TLS.
#
# TLS certificate checks need a wall clock inside the certificate's validity window; a freshly
# booted ESP32 believes it is 2000-01-01, so the time is set over NTP before the first wss://.
# `network` and `ntptime` are passed in, so the simulator can hand over its stand-ins.
import asyncio
import time

_POLL_MS = 100


class WifiError(Exception):
    pass


def _reason(network, status):
    reasons = (
        ("STAT_WRONG_PASSWORD", "wrong Wi-Fi password: fix wifi_password in config.json"),
        ("STAT_NO_AP_FOUND", "Wi-Fi network not found: check wifi_ssid in config.json and range"),
        ("STAT_CONNECT_FAIL", "Wi-Fi connection failed: check the access point, then press"),
    )
    for name, text in reasons:
        if hasattr(network, name) and status == getattr(network, name):
            return text
    return None


async def connect(network, ssid, password, timeout_ms=20000, log=None):
    """Join `ssid`; returns the WLAN object or raises WifiError with what to do."""
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if wlan.isconnected():
        return wlan
    if log is not None:
        log.info("wifi", "joining %r" % ssid)
    wlan.connect(ssid, password)
    start = time.ticks_ms()
    while not wlan.isconnected():
        reason = _reason(network, wlan.status())
        if reason is not None:
            wlan.disconnect()
            raise WifiError(reason)
        if time.ticks_diff(time.ticks_ms(), start) > timeout_ms:
            wlan.disconnect()
            raise WifiError("Wi-Fi timed out after %d s joining %r: check ssid and signal"
                            % (timeout_ms // 1000, ssid))
        await asyncio.sleep_ms(_POLL_MS)
    if log is not None:
        log.info("wifi", "connected, ip %s" % wlan.ifconfig()[0])
    return wlan


async def sync_time(ntptime, attempts=3, log=None):
    """Set the RTC from NTP; returns True on success. Failure is logged, not fatal: a plain
    ws:// cloud (the simulator, a LAN fake cloud) needs no clock."""
    for attempt in range(attempts):
        try:
            ntptime.settime()
            return True
        except (OSError, OverflowError) as exc:
            if log is not None:
                log.warn("time", "NTP attempt %d failed: %s" % (attempt + 1, exc))
            await asyncio.sleep_ms(500)
    if log is not None:
        log.warn("time", "no NTP time: wss:// certificate checks may fail until it is set")
    return False


async def bring_up(app):
    # A_WIFI_CONNECT's task: join, set the clock for TLS, post E_WIFI_UP or E_WIFI_FAILED.
    # Failed joins in a row are counted for app.on_wifi_failed (main.py: offer setup mode).
    from app import state as S

    if app.network is None:
        app.queue.post(S.E_WIFI_UP)
        return
    cfg = app.cfg
    try:
        await connect(app.network, cfg["wifi_ssid"], cfg["wifi_password"], log=app.log)
    except WifiError as exc:
        app.log.error("wifi", str(exc))
        app.wifi_failures += 1
        if app.on_wifi_failed is not None:
            app.on_wifi_failed(app.wifi_failures)
        app.queue.post(S.E_WIFI_FAILED)
        return
    app.wifi_failures = 0
    if app.ntptime is not None and cfg["base_url"].startswith("wss:"):
        await sync_time(app.ntptime, log=app.log)
    app.queue.post(S.E_WIFI_UP)
