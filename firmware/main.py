# Device entry point: run the app with a global exception handler, fall back to a safe mode after
# a crash loop, and always release the I2S peripherals.
#
# Crash loop: every crash is counted in a small file; the app clears it once it has run for a
# minute. After _MAX_CRASHES in a row the app is not started, so the REPL stays reachable for
# `mpremote` (fix config.json or deploy a fix, then delete crashes.txt or press reset twice).
import sys

import machine

_CRASH_FILE = "crashes.txt"
_MAX_CRASHES = 3


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


def _loop_exception_handler(loop, context):
    # A task died with an exception nobody awaited: show it, then stop the loop so the finally
    # clause below releases the hardware and the crash is counted.
    exc = context.get("exception")
    print("E main   task failed: %s" % context.get("message", ""))
    if exc is not None:
        sys.print_exception(exc)
    loop.stop()


def run():
    crashes = _crashes()
    if crashes >= _MAX_CRASHES:
        print("E main   safe mode after %d crashes: the app is not started. Fix config.json or "
              "redeploy, then delete %s and reset." % (crashes, _CRASH_FILE))
        return
    import asyncio

    from app import runner

    try:
        loop = asyncio.get_event_loop()
        loop.set_exception_handler(_loop_exception_handler)
        asyncio.run(runner.main(crash_file=_CRASH_FILE))
    except KeyboardInterrupt:
        print("I main   stopped from the REPL")
        return
    except Exception as exc:  # noqa: BLE001 - last line of defence: count, show, reset
        _record_crash(crashes + 1)
        print("E main   crashed (%d in a row): %s" % (crashes + 1, exc))
        sys.print_exception(exc)
        machine.reset()
    finally:
        runner.shutdown()
        asyncio.new_event_loop()


run()
