# Device entry point: run the app with a global exception handler, fall back to a safe mode after
# a crash loop, and always release the I2S peripherals.
#
# Crash loop: every crash is counted in a small file; the app clears it once it has run for a
# minute. After _MAX_CRASHES in a row the app is not started, so the REPL stays reachable for
# `mpremote` (fix config.json or deploy a fix, then delete crashes.txt and reset).
# A bad config.json is not a crash: the app prints what to fix and returns to the REPL.
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


def run():
    crashes = _crashes()
    if crashes >= _MAX_CRASHES:
        print("E main   safe mode after %d crashes: the app is not started. Fix config.json or "
              "redeploy, then delete %s and reset." % (crashes, _CRASH_FILE))
        return "safe"
    import asyncio

    from app import runner

    def on_task_error(loop, context):
        # A task died with an exception nobody awaited: the device is no longer whole, so
        # count it and reset (the watchdog would, later and without saying why).
        _crash(crashes + 1, "a task", context.get("exception"))
        runner.shutdown()
        time.sleep_ms(_RESET_DELAY_MS)
        machine.reset()

    crashed = False
    try:
        asyncio.run(runner.main(crash_file=_CRASH_FILE, on_task_error=on_task_error))
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
