"""`python -m tools.sim --setup`: the device starts in setup mode, then restarts into the session.

    sim: setup page http://127.0.0.1:PORT/

A virtual board with no config.json starts in setup mode (firmware/app/setup/portal.py, the
device's own code): its access point is 127.0.0.1, its HTTP server and captive DNS bind free
ports there. Once the page has saved a valid config.json (in OUT_DIR/setup/), the board
"restarts": the simulator runs the usual session with the app built from that file (the sim
points base_url at its fake cloud, as in every run), so the answer proves the saved config works.

Both runtimes: under CPython the portal runs in this process on tools/vhw; under MicroPython the
deployed .mpy tree runs it in the unix port (tools/mpsim/simboot.py, spec "entry": "setup",
handled by tools/mpsim/simsetup.py), and the restart is a new device process, as a reset is.
SetupDevice is the reusable part: tests start it, talk to its page and stop it.
"""

import asyncio
import json
import os
import socket
import tempfile

import tools.sim.harness  # noqa: F401 - device paths and shims before any device module

SETUP_WAIT_S = 900  # how long --setup waits for someone to fill in the page
_START_S = 60  # the device's page is up within this (a first MicroPython run builds the tree)
_STOP_S = 10


def free_port(kind=socket.SOCK_STREAM):
    """A port nobody holds on 127.0.0.1 right now (the device binds it a moment later: MicroPython
    sockets cannot report the port they were given for 0)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SetupDevice:
    """A virtual board in setup mode under `runtime`; its board filesystem is `workdir`."""

    def __init__(self, runtime="cpython", workdir=None, chip="esp32s3", settings=None,
                 echo=None, heap_bytes=None):
        if runtime not in ("cpython", "micropython"):
            raise ValueError("runtime must be cpython or micropython, not %r" % runtime)
        self.runtime = runtime
        self.workdir = workdir or tempfile.mkdtemp(prefix="sim-setup-")
        self.config_path = os.path.join(self.workdir, "config.json")
        self.chip = chip
        self.settings = dict(settings or {})
        self.echo = echo
        self.heap_bytes = heap_bytes
        self.log = []  # the device's log lines
        self.outcome = None  # "saved" | "timeout" | "stopped" | "crashed: ..."
        self.report = {}  # MicroPython: heap figures the device reported at the end
        self.port = self.dns_port = None
        self.url = None
        self._task = self._proc = self._hw = None
        self._readers = []

    def _line(self, line):
        self.log.append(line)
        if self.echo is not None:
            self.echo("          " + line)

    async def start(self):
        """Boot the board in setup mode; returns the page's URL once its server accepts."""
        self.port, self.dns_port = free_port(), free_port(socket.SOCK_DGRAM)
        settings = {"reason": "config", "port": self.port, "dns_port": self.dns_port,
                    "config_path": self.config_path}
        settings.update(self.settings)
        if self.runtime == "cpython":
            self._start_in_process(settings)
        else:
            await self._start_process(settings)
        self.url = "http://127.0.0.1:%d/" % self.port
        await self._wait_listening()
        return self.url

    def _start_in_process(self, settings):
        from tools.vhw.clock import RealClock
        from tools.vhw.install import install
        from tools.vhw.network import Scenario

        self._hw = install(clock=RealClock(), chip=self.chip, wifi=Scenario())
        from app.log import Log
        from app.setup import portal

        self._task = asyncio.ensure_future(portal.run(log=Log(sink=self._line), **settings))

    async def _start_process(self, settings):
        from tools.sim import mpruntime

        spec = {"t0_ticks_us": int(round(asyncio.get_running_loop().time() * 1e6)),
                "root": mpruntime.deployed_tree(), "chip": self.chip,
                "wifi": {"ssid": "sim-wifi", "key": "sim-password", "join_ms": 100},
                "entry": "setup", "setup": settings}
        spec_path = os.path.join(self.workdir, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        heap = self.heap_bytes or mpruntime.DEFAULT_HEAP_BYTES
        self._proc = await asyncio.create_subprocess_exec(
            mpruntime.micropython_binary(), "-X", "heapsize=%d" % heap,
            os.path.join(mpruntime.MPSIM, "simboot.py"), spec_path,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, cwd=self.workdir)
        self._readers = [asyncio.ensure_future(self._follow(self._proc.stdout))]

    async def _follow(self, stream):
        from tools.sim import mpruntime

        async for kind, value in mpruntime.records(stream):
            if kind == "@@L":
                self._line(value)
            elif kind == "@@SETUP":
                self.report = value
                self.outcome = self.outcome or self.report.get("outcome")
            elif kind == "@@CRASH":
                self.outcome = "crashed: " + value
            elif kind is None:
                self._line(value)

    def running(self):
        if self._task is not None:
            return not self._task.done()
        return self._proc is not None and self._proc.returncode is None

    async def _wait_listening(self):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_S
        while loop.time() < deadline:
            if not self.running():
                await self._finish()
                raise RuntimeError("the device left setup mode before its page was up: %s" % (
                    self.outcome or (self.log[-1] if self.log else "no output")))
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port), 1.0)
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return
        await self.stop()
        raise RuntimeError("the setup page was not up within %d s" % _START_S)

    async def wait(self, timeout):
        """Until setup mode ends by itself (the form was saved, or it timed out): the outcome,
        or None when it is still running after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.running() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if self.running():
            return None
        await self._finish()
        return self.outcome

    async def _finish(self):
        if self._task is not None:
            try:
                self.outcome = self.outcome or await self._task
            except asyncio.CancelledError:
                self.outcome = self.outcome or "stopped"
            except Exception as exc:  # noqa: BLE001 - the device's crash, reported as such
                self.outcome = "crashed: %r" % (exc,)
            self._task = None
            if self._hw is not None:
                self._hw.uninstall()
                self._hw = None
        if self._proc is not None:
            try:
                await asyncio.wait_for(self._proc.wait(), _STOP_S)
            except asyncio.TimeoutError:
                self._proc.kill()
                await self._proc.wait()
                self.outcome = self.outcome or "killed: the device did not stop"
            for reader in self._readers:
                await reader
            self._readers = []
            if self.outcome is None:
                self.outcome = "crashed: the device process exited (%s) without a report" % (
                    self._proc.returncode)
            self._proc = None

    async def stop(self):
        """Power off: ends setup mode wherever it is."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._proc is not None and self._proc.returncode is None:
            try:
                self._proc.stdin.write(b"stop\n")
                await self._proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass
        await self._finish()

    def saved(self):
        """config.json as the page wrote it (None when it wrote none)."""
        try:
            with open(self.config_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None


def _redacted(cfg):
    import config  # firmware/config.py (tools.sim.harness put firmware/ on sys.path)

    return config.redacted(cfg)


async def _setup_phase(args, options):
    workdir = os.path.join(args.out_dir, "setup")
    os.makedirs(workdir, exist_ok=True)
    for name in ("config.json", "config.json.tmp"):
        if os.path.exists(os.path.join(workdir, name)):
            os.remove(os.path.join(workdir, name))  # a board fresh from `make flash`
    import boards

    device = SetupDevice(options.runtime, workdir, chip=boards.load(options.board).CHIP,
                         echo=print if args.verbose else None, heap_bytes=options.heap_bytes)
    url = await device.start()
    print("sim: setup page %s" % url, flush=True)
    print("sim: the virtual Wi-Fi is sim-wifi (password sim-password); the fake cloud takes any "
          "token; waiting up to %d s for the form" % SETUP_WAIT_S, flush=True)
    outcome = await device.wait(SETUP_WAIT_S)
    if outcome is None:
        await device.stop()
        return "nobody filled in the setup page within %d s" % SETUP_WAIT_S, None, device
    if outcome != "saved":
        return "setup mode ended without a config: %s" % outcome, None, device
    return None, device.saved(), device


def run_setup(args, options):
    """--setup: setup mode until its page saves config.json; then the options of the restarted
    app's session (built from that file), or None after printing why it failed."""
    print("sim: setup mode: a virtual %s with no config.json, runtime %s" % (
        options.board, options.runtime), flush=True)
    try:
        reason, saved, device = asyncio.run(_setup_phase(args, options))
    except RuntimeError as exc:
        print("sim: FAILED: %s" % exc)
        return None
    if reason or saved is None:
        print("sim: FAILED: %s" % (reason or "config.json is missing after the save"))
        return None
    print("sim: config.json %s (secrets hidden): %s" % (
        os.path.relpath(device.config_path), json.dumps(_redacted(saved), sort_keys=True)))
    print("sim: the device restarts into normal mode", flush=True)
    from tools.sim.cli import default_presses

    options.mode = saved.get("mode", "ptt")
    options.cloud = saved.get("cloud", "coze")
    options.board = saved.get("board", options.board)
    extra = {k: v for k, v in saved.items() if k != "base_url"}
    options.extra_config = dict(options.extra_config, **extra)
    if not args.press:
        options.presses = default_presses(options.mic, options.mode)
    return options
