# The simulator's device in setup mode under MicroPython: simboot.py hands over here when the spec
# says "entry": "setup" (tools/sim/setup_run.py writes it). Runs the deployed
# app.setup.portal.run() with the spec's "setup" settings (loopback address, the ports the host
# chose, config_path in the run's board folder) until the form is saved, setup mode times out,
# or the host writes "stop" on stdin or closes it (the simulator is gone: power off).
# Records, as simboot's: @@L (a log line), @@CRASH, and last @@SETUP {"outcome", "heap"}.
import gc
import sys


async def _stdin_closed():
    import asyncio

    reader = asyncio.StreamReader(sys.stdin)
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"stop":
            return


async def _main(spec, emit):
    import asyncio

    from app.log import Log
    from app.setup import portal

    log = Log(sink=lambda line: emit("L", line))
    run = asyncio.create_task(portal.run(log=log, **spec["setup"]))
    stop = asyncio.create_task(_stdin_closed())
    while not run.done() and not stop.done():
        await asyncio.sleep_ms(20)
    outcome = "stopped"
    if run.done():
        stop.cancel()
        outcome = await run  # re-raises the portal's crash, if that is how it ended
    else:
        run.cancel()
        try:
            await run
        except asyncio.CancelledError:
            pass
    return outcome


def boot(spec, emit):
    import asyncio

    try:
        outcome = asyncio.run(_main(spec, emit))
    except MemoryError as exc:
        outcome = "crashed: the device ran out of heap: %r" % (exc,)
        emit("CRASH", outcome)
    except Exception as exc:  # noqa: BLE001 - setup mode's crash, reported to the host
        outcome = "crashed: %r" % (exc,)
        emit("CRASH", outcome)
        sys.print_exception(exc)
    gc.collect()
    emit("SETUP", {"outcome": outcome, "heap": {"alloc": gc.mem_alloc(), "free": gc.mem_free()}})
