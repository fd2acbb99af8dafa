# One update check, at boot, before the app is imported (otaboot.at_boot): the whole heap is
# free and the only TLS session is this one. A board that asks for a check while running (the
# check_update device tool) restarts into this; see request.py.
#
#   Wi-Fi (and NTP: certificate dates) -> GET manifest.json: the header decides early whether
#   there is anything to do -> the signature over the whole manifest -> the staging slot filled
#   (stage.py) -> the switch (slots.py) -> True: otaboot resets into the new version, on trial.
# Every outcome is one line; a failure leaves the running version as it was and frees what the
# staging took. Returns True only when a new version is ready to boot.
import asyncio
import sys

from app.ota import Done, OtaError, slots

_TIMEOUT_MS = 10000  # each network step (connect, TLS, each read)


def run(cfg, cur):
    from app.log import Log

    log = Log()
    log.set_level(cfg["log_level"])
    log.add_secret(cfg["token"])
    log.add_secret(cfg["wifi_password"])
    try:
        return asyncio.run(_check(cfg, cur, log))
    finally:
        if sys.implementation.name == "micropython":
            asyncio.new_event_loop()  # as main.py does: the app starts on a fresh loop


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


async def _online(cfg, log):
    try:
        import network
    except ImportError:
        return  # a host: already online
    from app import wifi

    try:
        await wifi.connect(network, cfg["wifi_ssid"], cfg["wifi_password"], log=log)
    except wifi.WifiError as exc:
        raise Done("no network (%s): the next boot checks again" % exc) from None
    try:
        import ntptime
    except ImportError:
        return
    await wifi.sync_time(ntptime, log=log)


async def _check(cfg, cur, log):
    from app.ota import https

    slot = None
    client = None
    try:
        await _online(cfg, log)
        client = https.Client(cfg["ota_url"], _read(cfg["ca_file"]), _TIMEOUT_MS)
        log.info("ota", "checking %s (running %s)" % (client.where("manifest.json"),
                                                        cur.get("version") or "the base tree"))
        head = await _manifest(client, cfg, cur)
        slot = slots.staging(cur)
        slots.begin(slot, head["version"])
        log.info("ota", "updating to %s in slot %s: %d files, %d bytes" % (
            head["version"], slot, head["count"], head["bytes"]))
        from app.ota import stage

        fetched, copied = await stage.fill(client, head, slot, cur, log)
        await client.close()
        slots.switch(slot, head["version"], cur)
        log.info("ota", "%s is ready (%d files downloaded, %d unchanged): restarting into it, on"
                 " trial until it reaches the cloud" % (head["version"], fetched, copied))
        return True
    except Done as exc:
        log.info("ota", str(exc))
    except OtaError as exc:
        log.error("ota", "%s; %s" % (exc, _stays(cur)))
        slots.discard(slot)
    except OSError as exc:
        # The flash outside the file writes stage.py guards: the job note, the switch's renames.
        log.error("ota", "the update failed on the flash (%r); %s" % (exc, _stays(cur)))
        slots.discard(slot)
    finally:
        if client is not None:
            await client.close()
    return False


def _stays(cur):
    return "%s stays" % (cur.get("version") or "the base tree")


async def _manifest(client, cfg, cur):
    from app.ota import manifest

    slots.makedirs(slots.NEW)
    rx = manifest.Receiver(slots.NEW, lambda head: manifest.decide(head, cfg, cur), slots.OPEN)
    try:
        await client.get("manifest.json", rx, manifest.MAX_BYTES)
        return rx.finish(cfg["ota_key"])
    except BaseException:
        rx.close()
        raise
