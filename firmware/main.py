# Device entry point: run the app with a global exception handler, fall back to a safe mode after
# a crash loop, and always release the I2S peripherals.
#
# Crash loop: every crash is counted in a small file; the app clears it once it has run for a
# minute. After _MAX_CRASHES in a row the app is not started, so the REPL stays reachable for
# `mpremote` (fix config.json or deploy a fix, then delete crashes.txt and reset).
# A bad config.json is not a crash: the app prints what to fix and returns to the REPL.
# Over-the-air versions (firmware/otaboot.py): the update check runs before the app is imported,
# and a crash loop of a new version on trial rolls back to the previous one instead.
import sys
import time

import machine

_CRASH_FILE = "crashes.txt"
_MAX_CRASHES = 3
_RESET_DELAY_MS = 2000  # time to read the error on a serial console before the reset


def _crashes():
    try:
        with open(_CRASH_FILE) as f:
            return int(f.read() or "0")
    except (OSError, ValueError):
        return 0


def _record_crash(count):
    try:
        with open(_CRASH_FILE, "w") as f:
            f.write(str(count))
    except OSError:
        pass


def _crash(count, where, exc):
    _record_crash(count)
    print("E main   %s crashed (%d in a row): %r" % (where, count, exc))
    sys.print_exception(exc)


# Setup mode (firmware/app/setup, README "Quick start") runs instead of the app when
# config.json is missing or lacks what the page asks (Wi-Fi, token, ...), when the board's button
# is held at power-on, or at the boot after the app's Wi-Fi join kept failing. Its modules are
# imported only then: normal mode never pays their RAM.
_SETUP_FLAG = "setup.txt"  # written when Wi-Fi keeps failing; removed as setup mode starts
_SETUP_AFTER_WIFI_FAILURES = 5


def _setup_wanted():
    """(reason, open access point) for setup mode, or None for the app (app/bootmode.py)."""
    from app import bootmode

    try:
        return bootmode.setup_wanted(_SETUP_FLAG)
    finally:
        # Boot-only: with the module gone from sys.modules and its package, the GC takes its
        # code back before the app starts.
        sys.modules.pop("app.bootmode", None)
        del sys.modules["app"].bootmode


def _setup(reason, open_ap, crashes):
    import asyncio

    from app.setup import portal

    try:
        outcome = asyncio.run(portal.run(reason, open_ap=open_ap))
    except KeyboardInterrupt:
        print("I main   stopped from the REPL")
        return "stopped"
    except Exception as exc:  # noqa: BLE001 - counted as a crash: a loop of them ends in safe mode
        _crash(crashes + 1, "setup mode", exc)
        time.sleep_ms(_RESET_DELAY_MS)
    else:
        print("I main   setup mode ended (%s): restarting" % outcome)
    machine.reset()
    return "setup"


def _wifi_failed(failures):
    # The app's Wi-Fi join failed `failures` times in a row. After a few, offer setup mode: it
    # starts from the config.json there is (nothing is lost) and, if nobody comes, goes back to
    # the app with it.
    if failures < _SETUP_AFTER_WIFI_FAILURES:
        return
    try:
        with open(_SETUP_FLAG, "w") as f:
            f.write("wifi")
    except OSError:
        return  # cannot leave the note: keep trying the saved network
    print("W main   Wi-Fi failed %d times in a row: restarting into setup mode (config.json is "
          "kept)" % failures)
    machine.reset()


def run():
    ota = sys.modules.get("otaboot")  # boot.py chose the app version (firmware/otaboot.py)
    crashes = _crashes()
    if crashes >= _MAX_CRASHES:
        # A new version on trial is rolled back instead (and the count starts again).
        if ota is not None and ota.roll_back("it crashed %d times in a row" % crashes):
            machine.reset()
        print("E main   safe mode after %d crashes: the app is not started. Fix config.json or "
              "redeploy, then delete %s and reset." % (crashes, _CRASH_FILE))
        return "safe"
    import asyncio

    try:
        setup = _setup_wanted()
    except Exception as exc:  # noqa: BLE001 - a failed check must not keep the app from running
        print("E main   the setup mode check failed (%r): starting the app" % (exc,))
        setup = None
    if setup is not None:
        return _setup(setup[0], setup[1], crashes)
    if ota is not None:
        ota.at_boot()  # the update check when config.json sets ota_url; may switch and reset
        ota = None  # no reference left: otaboot frees itself when nothing waits for it
    try:
        from app import runner
    except Exception as exc:  # noqa: BLE001 - an app that cannot import is a crash too
        _crash(crashes + 1, "importing the app", exc)
        time.sleep_ms(_RESET_DELAY_MS)
        machine.reset()
        return "crashed"

    def on_task_error(loop, context):
        # A task died with an exception nobody awaited: the device is no longer whole, so
        # count it and reset (the watchdog would, later and without saying why).
        _crash(crashes + 1, "a task", context.get("exception"))
        runner.shutdown()
        time.sleep_ms(_RESET_DELAY_MS)
        machine.reset()

    crashed = False
    try:
        asyncio.run(runner.main(crash_file=_CRASH_FILE, on_task_error=on_task_error,
                                on_wifi_failed=_wifi_failed))
    except KeyboardInterrupt:
        print("I main   stopped from the REPL")
    except Exception as exc:  # noqa: BLE001 - the last line of defence: count, show, reset
        crashed = True
        _crash(crashes + 1, "the app", exc)
    finally:
        runner.shutdown()
        asyncio.new_event_loop()
    if crashed:
        time.sleep_ms(_RESET_DELAY_MS)
        machine.reset()
    return "stopped"


run()
