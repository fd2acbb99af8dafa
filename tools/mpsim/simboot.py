# The simulator's device process under MicroPython: `micropython simboot.py SPEC.json`.
#
# It installs the virtual hardware (vmachine, vnetwork, vntptime) as `machine`, `network` and
# `ntptime`, puts the deployed firmware tree (the .mpy files `make deploy` would copy) on
# sys.path the way the board has it, and runs the unchanged app (app.runner.main) with the
# host's config. It presses the button on the host's schedule, on the shared timeline, and ends
# the way the CPython harness does: after `duration`, when the host writes "stop" on stdin, or
# once the last turn has played out. Everything the host needs leaves as one-line records on
# stdout ("@@" + kind + " " + JSON), so app output that is not a record is passed through:
#   @@T [t_us, name, detail]   a trace event (state changes, button, first_append, ...)
#   @@L "line"                 an app log line (already redacted by the app's Log)
#   @@CRASH "text"             a task or the app died with an exception
#   @@END {...}                the run ended: player and bus stats, heap, sys.implementation
import gc
import json
import os
import sys

import vclock

_SETTLE_LIMIT_S = 30
_START_LIMIT_S = 10
_TAIL_S = 0.3
_ERROR_HOLD_S = 2.0  # tools/sim/harness.py ERROR_HOLD_S


def emit(kind, value):
    print("@@" + kind + " " + json.dumps(value))


def implementation():
    impl = sys.implementation
    out = {"name": impl.name, "version": list(impl.version)}
    for key in ("_machine", "_mpy", "_build"):
        if hasattr(impl, key):
            out[key] = getattr(impl, key)
    out["platform"] = sys.platform
    out["maxsize_bits"] = 64 if sys.maxsize > (1 << 32) else 32
    return out


def install(spec):
    import vi2s
    import vmachine
    import vnetwork
    import vntptime

    vmachine.configure(chip=spec["chip"])
    vi2s.configure(mic=spec.get("mic"), mic_format=spec.get("mic_format"),
                   speaker=spec.get("speaker"), writes=spec.get("writes"),
                   room=spec.get("room"))
    wifi = spec.get("wifi") or {}
    vnetwork.configure(**wifi)
    sys.modules["machine"] = vmachine
    sys.modules["network"] = vnetwork
    sys.modules["ntptime"] = vntptime
    root = spec["root"]
    # The board's sys.path is ['', '.frozen', '/lib']: the app tree at the root, frozen modules
    # (the unix port keeps ssl and asyncio there), packages in lib; then the virtual hardware.
    sys.path[:] = [root, ".frozen", root + "/lib", sys.path[0]]
    os.chdir(root)


class Run:
    def __init__(self, spec):
        self.spec = spec
        self.spoke_at = []  # t_us of every SPEAKING state
        self.crashed = None
        self.stop_requested = False

    def trace(self, name, detail):
        t = vclock.now_us()
        if name == "state" and detail == "SPEAKING":
            self.spoke_at.append(t)
        emit("T", [t, name, detail])

    def log_line(self, line):
        emit("L", line)

    def on_task_error(self, loop, context):
        exc = context.get("exception")
        text = "a task crashed: %r" % (exc,)
        if self.crashed is None:
            self.crashed = text
        emit("CRASH", text)
        sys.print_exception(exc)

    async def sleep_until(self, seconds, done):
        import asyncio

        while vclock.now_us() < seconds * 1_000_000 and not done():
            await asyncio.sleep_ms(5)

    async def watch_stdin(self):
        import asyncio

        reader = asyncio.StreamReader(sys.stdin)
        while True:
            line = await reader.readline()
            if not line or line.strip() == b"stop":
                self.stop_requested = True
                return

    async def main(self):
        import asyncio

        from app import runner
        from app.log import Log

        spec = self.spec
        log = Log(sink=self.log_line)
        task = asyncio.create_task(runner.main(cfg=spec["config"], log=log, trace=self.trace,
                                               on_task_error=self.on_task_error))
        stdin = asyncio.create_task(self.watch_stdin())
        stats = {"started": False}
        try:
            await self.sleep_until(vclock.now_us() / 1e6 + _START_LIMIT_S,
                                   lambda: runner.current() is not None or task.done())
            app = runner.current()
            if app is not None:
                stats["started"] = True
                await self.script(app, task)
                stats["player"] = dict(app.audio.player.stats)
                self.trace("power_off", "")
                try:
                    await asyncio.wait_for_ms(app.link.close(), 2000)
                except (asyncio.TimeoutError, OSError):
                    pass
        finally:
            stdin.cancel()
            if not task.done():
                task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # noqa: BLE001 - reported to the host, which fails the run
                self.crashed = self.crashed or "the app crashed: %r" % (exc,)
                emit("CRASH", self.crashed)
                sys.print_exception(exc)
            runner.shutdown()
        return stats

    def error_held(self, app):
        """A check that is true once the app has sat in ERROR for _ERROR_HOLD_S: only a press
        leaves ERROR and the script has none left (tools/sim/harness.py ERROR_HOLD_S)."""
        from app import state as S

        since = [None]

        def held():
            if app.sm.state != S.ERROR:
                since[0] = None
                return False
            if since[0] is None:
                since[0] = vclock.now_us()
            return vclock.now_us() - since[0] >= _ERROR_HOLD_S * 1_000_000

        return held

    async def script(self, app, task):
        import machine
        from app import state as S

        spec = self.spec
        gpio = spec["button_gpio"]
        stopped = lambda: task.done() or self.stop_requested  # noqa: E731
        for press, release in spec["presses"]:
            await self.sleep_until(press, stopped)
            if stopped():
                return
            machine.drive(gpio, 0)  # active low: the button pulls the pin to ground
            self.trace("button_press", "")
            await self.sleep_until(release, stopped)
            machine.drive(gpio, None)
            self.trace("button_release", "")
        if spec.get("until_stop"):
            await self.sleep_until(1e9, stopped)
        elif spec.get("duration") is not None:
            held = self.error_held(app)
            await self.sleep_until(spec["duration"], lambda: stopped() or held())
        else:
            # Until the last turn has played out (back to READY / LISTENING), bounded.
            last = max([r for _, r in spec["presses"]] or [0.0])
            rest = S.READY if app.sm.mode == S.MODE_PTT else S.LISTENING
            held = self.error_held(app)
            settled = lambda: stopped() or held() or (  # noqa: E731
                any(t > last * 1e6 for t in self.spoke_at) and app.sm.state == rest)
            await self.sleep_until(last + _SETTLE_LIMIT_S, settled)
            await self.sleep_until(vclock.now_us() / 1e6 + _TAIL_S, stopped)


_KERNEL_MODULES = ("websock.kernels", "audio.g711", "audio.pcm", "b64", "cloud.jscan")


def kernels():
    """Which kernel each hot-loop module selected in this run, and whether it is native code:
    a viper function is an object of its own type, unlike a bytecode one."""
    def bytecode():
        pass

    out = {}
    for name in _KERNEL_MODULES:
        mod = sys.modules.get(name)
        if mod is None:
            continue
        # b64/jscan keep a portable twin (_fast None when viper failed); the one-source kernel
        # modules are _k (audio) or re-exported functions (websock.kernels).
        fast = getattr(mod, "_fast", None) or getattr(mod, "_k", None)
        if fast is None and name == "websock.kernels":
            fns = [mod.mask, mod.utf8_error, mod.keystream]
        else:
            fns = [getattr(fast, n) for n in dir(fast)] if fast is not None else None
        native = None
        if fns is not None:
            native = any(type(f).__name__ == "function" and type(f) is not type(bytecode)
                         for f in fns)
        out[name] = {"kernel": getattr(mod, "KERNEL", "viper"), "native": native}
    return out


def finish(run, stats):
    import vi2s
    import vmachine

    buses = []
    for bus in list(vi2s.buses.values()):
        bus.deinit()
    for bus in vi2s.seen:
        buses.append(bus.stats())
    gc.collect()
    stats.update(buses=buses, crashed=run.crashed, wdt_missed=vmachine.wdt_missed(),
                 resets=vmachine.resets, heap={"alloc": gc.mem_alloc(), "free": gc.mem_free()},
                 implementation=implementation(), kernels=kernels(), end_us=vclock.now_us())
    emit("END", stats)


def vmachine_reset():
    import vmachine

    return vmachine.MachineReset


def boot(path):
    import asyncio

    with open(path) as f:
        spec = json.load(f)
    vclock.start(spec["t0_ticks_us"])
    install(spec)
    if spec.get("entry") == "setup":  # setup mode instead of the app: tools/mpsim/simsetup.py
        import simsetup

        return simsetup.boot(spec, emit)
    run = Run(spec)
    stats = {"started": False}
    try:
        stats = asyncio.run(run.main())
    except vmachine_reset() as exc:
        run.crashed = run.crashed or "the app reset the board: %s" % (exc,)
        emit("CRASH", run.crashed)
    except MemoryError as exc:
        run.crashed = "the device ran out of heap: %r" % (exc,)
        emit("CRASH", run.crashed)
    except Exception as exc:  # noqa: BLE001 - anything else is the app's crash, reported
        run.crashed = run.crashed or "the app crashed: %r" % (exc,)
        emit("CRASH", run.crashed)
        sys.print_exception(exc)
    finish(run, stats)


boot(sys.argv[1])
