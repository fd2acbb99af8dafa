# The whole app as deployed, under MicroPython, for the device heap benchmarks: boot on the
# default config, connect, three push-to-talk turns of a paced session, the peak heap on the way.
# Never deployed; tools/bench/bench_device.py runs it in a fresh interpreter per run.
#
# What runs is the deployed tree (tools/deploy.py stage(): .mpy files, main.py as source,
# config.json) with the board's sys.path and the board's boot order: main.py's module code (its
# `run()` call aside: it would asyncio.run() a real websock.connect), then
# app.runner.main(crash_file=..., on_task_error=...) exactly as run() calls it, plus `connect`:
# the one stand-in for the network, an in-memory WebSocket server (devcloud.py). The hardware is
# the simulator's MicroPython virtual hardware (tools/mpsim: vmachine, vi2s, vnetwork,
# vntptime) in sys.modules. The WebAssembly port's asyncio has no StreamReader/StreamWriter, so
# there the I2S buses also offer tools/hostcompat.py's host stream contract (PollI2S below), and
# its poll adapters stand in for asyncio's two stream classes the app's compat builds.
#
# Figures (devmeter.py says how they are read): the heap before any app module is imported is
# the baseline (harness code, the virtual hardware modules and the whole session file are in
# it); every figure is a difference from it, so app code, app data and the little the stand-ins
# allocate as the app runs are counted: the virtual speaker's DMA ring and zero buffer (1.5 KB),
# the server stream's state (~0.3 KB).
import asyncio
import gc
import json
import sys

import devcloud
import devmeter

TURNS = 3
HOLD_MS = 1000  # over min_press_ms, under long_press_ms: a question, not a tap or a mode switch
GAP_MS = 300
BUTTON_GPIO = 0  # esp32s3_inmp441: BOOT button, active low
_WAIT_MS = 20000


def emit(kind, value):
    print("@@DEV " + json.dumps({"kind": kind, "value": value}))


def install_hardware(wifi):
    import vi2s
    import vmachine
    import vnetwork
    import vntptime

    vmachine.configure(chip="esp32s3")
    vi2s.configure()  # no mic file: a quiet room; nothing recorded from the speaker
    vnetwork.configure(ssid=wifi[0], key=wifi[1], join_ms=100)
    if devmeter.WASM:

        class PollI2S(vi2s.I2S):
            # The host stream contract (tools/hostcompat.py) over vi2s's non-blocking reads and
            # writes, in asyncio mode from the start as after the first poll on the board.
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.polled = True

            def readinto_nowait(self, buf):
                return self.readinto(buf) or 0

            def write_nowait(self, buf):
                return self.write(buf) or 0

            def wait_ms(self):
                return 1

        vmachine.I2S = PollI2S
        # The app runs the device's own compat (lib/compat.py, measured with the app), whose
        # streams are asyncio.StreamReader/StreamWriter: this port's asyncio has none, so the
        # host's poll adapters stand in for those two names only.
        import hostcompat

        sys.modules.pop("compat", None)  # hostcompat put itself there: not here
        asyncio.StreamReader = hostcompat.PollReader
        asyncio.StreamWriter = hostcompat.stream_writer_asyncio
    sys.modules["machine"] = vmachine
    sys.modules["network"] = vnetwork
    sys.modules["ntptime"] = vntptime
    return vmachine


class ImportLog:
    """builtins.__import__ wrapped: every module in the order its import finished (so a module
    comes after what it imported), and the imports that failed (name, error)."""

    def __init__(self):
        import builtins

        self.order = []
        self.failed = []
        self.files = {}  # name -> __file__ when imported (boot-only modules leave sys.modules)
        self._orig = builtins.__import__
        builtins.__import__ = self._import

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        before = set(sys.modules)
        try:
            mod = self._orig(name, globals, locals, fromlist, level)
        except Exception as exc:
            self.failed.append((name, "%s: %s" % (type(exc).__name__, exc)))
            raise
        for key in sys.modules:
            if key not in before and key not in self.order:
                self.order.append(key)
                self.files[key] = getattr(sys.modules[key], "__file__", None)
        return mod


def main_py_body(path):
    """main.py's source without its last line, the `run()` call (checked)."""
    with open(path) as f:
        lines = f.read().rstrip().split("\n")
    assert lines[-1].strip() == "run()", "main.py no longer ends with run(): update devboot"
    return "\n".join(lines[:-1]) + "\n"


async def _until(pred, limit_ms=_WAIT_MS, step_ms=10):
    waited = 0
    while not pred():
        if waited >= limit_ms:
            return False
        await asyncio.sleep_ms(step_ms)
        waited += step_ms
    return True


class Lines:
    def __init__(self):
        self.errors = []

    def sink(self, line):
        print(line)
        if " E " in line[:12]:
            self.errors.append(line)


async def run(args):
    vmachine = install_hardware(args["wifi"])
    groups = devcloud.load(args["session"])
    cloud = devcloud.Cloud(groups, args.get("frames", 22))
    meter = devmeter.PassMeter()
    meter.every_step = args.get("every_step", False)
    imports = ImportLog() if args.get("discover") else None
    crashes = []
    lines = Lines()
    body = main_py_body(args["root"] + "/main.py")
    holder = [None, 0]  # the app, the turn

    def where():
        app = holder[0]
        if app is None:
            return "boot"
        from app import state as S

        return "turn %d %s" % (holder[1], S.STATE_NAMES[app.sm.state])

    meter.where = where
    base = await devmeter.settle()
    meter.install()
    # ---- from here on, everything the app imports and allocates is counted ----
    main_globals = {"__name__": "__main__"}
    exec(compile(body, "main.py", "exec"), main_globals)
    from app import runner
    from app import state as S
    from app.log import Log

    def on_task_error(loop, context):
        crashes.append(repr(context.get("exception")))

    task = asyncio.create_task(runner.main(
        crash_file=main_globals["_CRASH_FILE"], log=Log(sink=lines.sink), connect=cloud.connect,
        on_task_error=on_task_error))
    out = {"turns": 0}
    try:
        assert await _until(lambda: runner.current() is not None or task.done()), "no app"
        app = holder[0] = runner.current()
        assert app is not None, "the app did not start"
        assert await _until(lambda: app.sm.state == S.READY), \
            "not READY: %s" % S.STATE_NAMES[app.sm.state]
        # Booted, connected and idle: what the app keeps between turns (boot-only code gone).
        await asyncio.sleep_ms(GAP_MS)
        out["ready"] = await devmeter.settle() - base
        player = app.audio.player
        for turn in range(1, TURNS + 1):
            holder[1] = turn
            played = player.stats["bytes_in"]
            vmachine.drive(BUTTON_GPIO, 0)
            await asyncio.sleep_ms(HOLD_MS)
            vmachine.drive(BUTTON_GPIO, None)
            ok = await _until(lambda t=turn, p=played: cloud.streams[-1].turns >= t
                              and player.stats["bytes_in"] > p
                              and app.sm.state == S.READY and player.idle.is_set(),
                              args.get("turn_ms", _WAIT_MS))
            assert ok, "turn %d stuck in %s" % (turn, S.STATE_NAMES[app.sm.state])
            out["turns"] = turn
            await asyncio.sleep_ms(GAP_MS)
        out["player"] = dict(player.stats)
        # (audio.pcm, audio.g711 and websock.kernels have one kernel source, no choice)
        out["kernels"] = {name: getattr(sys.modules.get(name), "KERNEL", None)
                          for name in ("b64", "cloud.jscan")}
    finally:
        meter.uninstall()
        task.cancel()
        try:
            await task
        except BaseException:  # noqa: BLE001 - CancelledError, or the crash reported below
            pass
        runner.shutdown()
    out.update(base=base, entry_peak=meter.entry_peak - base, exit_peak=meter.exit_peak - base,
               where=meter.where_entry, where_exit=meter.where_peak, passes=meter.passes,
               collections=meter.collections,
               js_gcs=meter.js_gcs, errors=lines.errors, crashes=crashes,
               connections=len(cloud.streams), messages=sum(s.messages for s in cloud.streams),
               sent={k.decode(): v for k, v in cloud.streams[-1].sent.items()},
               platform=sys.platform, implementation=list(sys.implementation.version))
    out["modules"] = sorted((name, getattr(mod, "__file__", None))
                            for name, mod in sys.modules.items())
    if imports is not None:
        out["order"] = imports.order
        out["failed"] = imports.failed
        out["import_files"] = imports.files
    del main_globals
    gc.collect()
    emit("app", out)


async def main(args):
    await asyncio.create_task(run(args))  # in a task: see devmeter.py
