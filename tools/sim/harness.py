"""One simulated session: virtual hardware, the real app, a recorder, and a fake or real cloud.

    sim = Simulation(SimOptions(mode="ptt", presses=[(1.0, 4.0)]))
    result = asyncio.run(sim.run())     # SimResult: trace, log lines, speaker samples, session

Wiring: the app (firmware/app/runner.main, unchanged) -> ws://127.0.0.1 recorder -> the fake
cloud on 127.0.0.1 (or the real Coze over wss:// with a token). The recorder writes the session
file; the virtual I2S keeps every sample the app played. All times are seconds since the
simulation started, on one monotonic clock.
"""

import asyncio
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("lib", "firmware", ""):
    _path = os.path.join(ROOT, _sub)
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tools import hostcompat  # noqa: E402,F401 - MicroPython shims before any device module

DEFAULT_MIC = os.path.join(ROOT, "tests", "data", "mic", "question.wav")
FAKE_TOKEN = "sim-token"  # what the built-in fake cloud expects
_BOT_ID = "7400000000000000000"


def mpruntime_host():
    from tools.sim import mpruntime

    return mpruntime.host_implementation()


def config_for_device(cfg):
    """The config as the device process gets it: JSON, so tuples become lists."""
    import json

    return json.loads(json.dumps(cfg))


class SimOptions:
    def __init__(self, **kw):
        self.url = None  # None: start the built-in fake cloud
        self.token = None
        self.bot_id = None
        self.cloud = "coze"
        self.mode = "ptt"
        self.board = "esp32s3_inmp441"
        self.codec = "pcm"
        self.in_rate = None  # None: the config default for the codec
        self.out_rate = None
        self.mic = DEFAULT_MIC
        self.presses = []  # [(press_s, release_s)]
        self.duration = None  # None: until the last turn has played out
        self.burst = False
        self.inject = []  # fake-cloud injections, e.g. "error:5000@complete"
        self.tool_call = None  # (name, arguments) the fake cloud asks the device to run
        self.greeting = ""
        self.volume = 70
        self.extra_config = {}
        # TLS on the app's hop: True makes a test CA now (tools/certs/testpki) and the recorder
        # serves wss:// with its certificate for 127.0.0.1; (certfile, keyfile) serves that
        # certificate instead. The app trusts extra_config's ca_file, else that test CA.
        self.tls = None
        self.upstream_ca = None  # CA file the recorder trusts for a wss:// url (a test CA)
        # The deprecated config key mic_gate_while_speaking (True: echo "gate", False: "off");
        # None leaves it out, so the config's echo (extra_config, default "aware") decides.
        self.mic_gate = None
        self.session_out = None
        self.replay = None  # a format-v1 Session (or its path) the fake cloud replays instead
        self.cloud_options = {}  # CloudOptions overrides for the built-in fake cloud
        self.end_at = None  # stop when the session clock (since the link opened) reaches this
        self.log_level = "info"
        self.runtime = "cpython"  # or "micropython": the deployed firmware in the unix port
        # cpython only: run on the event loop's clock, compacted by run_simulation() (looptime):
        # timers fire in order at their exact times, and idle waits take no real time.
        self.virtual_time = False
        self.heap_bytes = None  # micropython: -X heapsize (None: mpruntime.DEFAULT_HEAP_BYTES)
        # The room (tools/mpsim/vroom.py, both runtimes): echo of what the speaker pins played
        # into the mic, echo_db the direct path's PCM16 gain (None: no echo path at all),
        # echo_delay_ms its delay, plus a fixed tail; noise_db steady noise in dBFS of the
        # mic's PCM16 (None: none).
        self.echo_db = None
        self.echo_delay_ms = 20
        self.noise_db = None
        self.room_seed = 1
        self.echo = print  # live progress sink; None for quiet
        for key, value in kw.items():
            if not hasattr(self, key):
                raise TypeError("SimOptions: unknown option %r" % key)
            setattr(self, key, value)


def room_spec(options):
    """The Room's keyword arguments for these options, or None when there is no room."""
    if options.echo_db is None and options.noise_db is None:
        return None
    return {"echo_db": options.echo_db, "delay_ms": options.echo_delay_ms,
            "noise_db": options.noise_db, "seed": options.room_seed}


# With no press left, a run whose app has sat this long in ERROR ends (a retry loop would have
# reconnected within it: the first backoff is ~1 s).
ERROR_HOLD_S = 2.0


def run_simulation(options, timeout=None):
    """Run one Simulation to its end; with options.virtual_time on a time-compacting loop
    (looptime), where a session's seconds of waiting take milliseconds and no test outcome
    depends on how fast the host is. `timeout` bounds the run in the loop's own seconds."""
    return run_on_loop(Simulation(options).run(), options.virtual_time, timeout)


def run_on_loop(coro, virtual_time, timeout=None):
    """asyncio.run(coro), on a time-compacting loop (looptime) when virtual_time is set: for
    a test that starts its own fake cloud beside a Simulation with virtual_time=True."""
    def loop_factory():
        if not virtual_time:
            return asyncio.new_event_loop()
        import looptime

        return looptime.new_event_loop(start=0.0)

    if timeout is not None:
        coro = asyncio.wait_for(coro, timeout)
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(coro)


class SimResult:
    def __init__(self):
        self.trace = []  # (t, name, detail)
        self.log = []  # app log lines
        self.speaker = None  # (int16 samples, rate) as played at the pins, silence included
        self.speaker_t0 = 0.0  # sim time of speaker sample 0
        self.speaker_writes = []  # (t, bytes) per I2S write
        self.session = None  # tools.session Session of the recorder
        self.session_offset = 0.0  # sim time of the session's t=0
        self.frames_to_device = 0  # WebSocket data frames the recorder sent the app
        self.player_stats = {}
        self.crashed = None  # first "task ... crashed" line, if any
        self.cloud = None  # the FakeCloud, when one ran
        self.machine = None  # the virtual `machine` module the app ran on (CPython runtime)
        self.device = {}  # runtime, sys.implementation as the device saw it, heap, ...
        self.gaps = []  # silence inside replies, with its cause (tools/sim/gaps.py)
        self.room = None  # CPython runtime: the vroom.Room the buses shared, when there was one
        self.options = None

    def events(self, name):
        return [t for t, n, _ in self.trace if n == name]

    def states(self):
        return [(t, d) for t, n, d in self.trace if n == "state"]


class Simulation:
    def __init__(self, options=None):
        self.o = options or SimOptions()
        self.result = SimResult()
        self.result.options = self.o
        self._loop_t0 = None
        self.app = None
        self._ca_file = None  # the test CA of tls=True
        self._error_since = None  # sim time the app entered ERROR (_error_held)

    def now(self):
        return asyncio.get_running_loop().time() - self._loop_t0

    def _say(self, text):
        if self.o.echo is not None:
            self.o.echo(text)

    def _trace(self, name, detail):
        t = self.now()
        self.result.trace.append((t, name, detail))
        if name == "state":
            self._say("[%7.3f] state %s" % (t, detail))

    def _log_line(self, line):
        self.result.log.append(line)
        if " crashed: " in line and self.result.crashed is None:
            self.result.crashed = line.strip()
        if self.o.echo is not None and self.o.log_level == "debug":
            self.o.echo("          " + line)

    def _config(self, base_url, token, board_name):
        o = self.o
        if o.tls and base_url.startswith("ws:"):
            base_url = "wss:" + base_url[3:]  # the recorder serves TLS (see _tls)
        cfg = {"wifi_ssid": "sim-wifi", "wifi_password": "sim-password", "cloud": o.cloud,
               "token": token, "bot_id": o.bot_id or _BOT_ID, "base_url": base_url,
               "mode": o.mode, "codec": o.codec, "board": board_name, "volume": o.volume,
               "log_level": "debug", "greeting": o.greeting}
        if o.mic_gate is not None:
            cfg["mic_gate_while_speaking"] = o.mic_gate
        if self._ca_file:
            cfg["ca_file"] = self._ca_file
        if o.in_rate:
            cfg["in_rate"] = o.in_rate
        if o.out_rate:
            cfg["out_rate"] = o.out_rate
        if o.cloud == "qwen":
            cfg.pop("bot_id")
            if not o.url:
                cfg["base_url"] = base_url + "/api-ws/v1/realtime"  # the fake cloud's Qwen path
        cfg.update(o.extra_config)
        return cfg

    def _tls(self):
        # (server context of the recorder, client context for its wss:// upstream)
        import ssl

        o = self.o
        serve = upstream = None
        if o.tls:
            cert = o.tls
            if cert is True:
                import tempfile

                from tools.certs.testpki import make_pki

                # Removed with this Simulation (a device process may still read ca_file).
                self._pki_dir = tempfile.TemporaryDirectory(prefix="sim-pki-")
                pki = make_pki(self._pki_dir.name)
                cert, self._ca_file = pki.server("good"), pki.ca_pem
            serve = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            serve.load_cert_chain(*cert)
        if o.upstream_ca:
            upstream = ssl.create_default_context(cafile=o.upstream_ca)
        return serve, upstream

    def _mic_source(self, board):
        from tools.cloud.audio import read_wav, resample
        from tools.vhw.i2s import PcmSource

        if not self.o.mic:
            return PcmSource(b"")
        samples, rate = read_wav(self.o.mic)
        # Sample 0 at t=0, the simulation start: one timeline with the button schedule.
        return PcmSource(resample(samples, rate, board.MIC["rate"]).tobytes(), at_clock_zero=True)

    async def run(self):
        import boards
        from tools.cloud.recorder import Recorder
        from tools.vhw.clock import LoopClock, RealClock
        from tools.vhw.install import install
        from tools.vhw.network import Scenario

        o = self.o
        if o.runtime not in ("cpython", "micropython"):
            raise ValueError("runtime must be cpython or micropython, not %r" % o.runtime)
        on_device = o.runtime == "micropython"
        if on_device:
            from tools.sim import mpruntime

            mpruntime.deployed_tree()  # built (or found) before t=0, so it costs no sim time
        self._loop_t0 = asyncio.get_running_loop().time()
        from tools.sim.gaps import SchedMonitor

        self.monitor = SchedMonitor(self.now)
        if not on_device:
            self.monitor.start(os.getpid())  # the app runs on this process's event loop
        board = boards.load(o.board)
        if o.virtual_time and on_device:
            raise ValueError("virtual_time runs the app in this process: the MicroPython device "
                             "is a process of its own, on real time")
        clock = LoopClock() if o.virtual_time else RealClock()
        if o.virtual_time:
            loop = asyncio.get_running_loop()
            hostcompat.use_clock_ns(lambda: int(loop.time() * 1e9))  # the app's ticks: loop time
        # Sim time of the virtual hardware's t=0 (both clocks are the same monotonic source).
        self._clock_offset = clock._t0 / 1e9 - self._loop_t0
        hw = None
        if not on_device:
            spec = room_spec(o)
            if spec is not None:
                from tools.mpsim.vroom import Room

                self.result.room = Room(board.MIC["rate"], **spec)
            hw = install(clock=clock, chip=board.CHIP,
                         wifi=Scenario("sim-wifi", "sim-password", join_ms=100),
                         mic_sources={board.MIC["bus"]: self._mic_source(board)},
                         room=self.result.room)
        cloud = None
        try:
            if o.url:
                upstream, token = o.url, o.token
            elif o.replay is not None:
                from tools.cloud.fake_cloud import FakeCloud
                from tools.session.format import read_session

                replay = read_session(o.replay) if isinstance(o.replay, str) else o.replay
                cloud = FakeCloud(token=FAKE_TOKEN, replay=replay)
                if not o.virtual_time:
                    # Real time: how many 20 ms frames a device process streams over a press
                    # depends on the CPU it gets (a starved one loses some to the RX DMA), so
                    # only that it streamed is compared; the count is, on virtual time.
                    cloud.append_tolerance = 1 << 30
                await cloud.start()
                upstream, token = "ws://127.0.0.1:%d" % cloud.port, FAKE_TOKEN
            else:
                from tools.cloud.fake_cloud import FakeCloud

                kw = {"token": FAKE_TOKEN, "burst": o.burst, "injections": list(o.inject)}
                if o.tool_call:
                    kw["tool_call"] = o.tool_call
                kw.update(o.cloud_options)
                cloud = await FakeCloud(**kw).start()
                upstream, token = "ws://127.0.0.1:%d" % cloud.port, FAKE_TOKEN
            serve_tls, upstream_tls = self._tls()
            # The fake cloud's framing reaches the app: the recorder frames it anew.
            framing = {} if o.url else {
                "down_fragment_bytes": o.cloud_options.get("fragment_bytes"),
                "down_pings": bool(o.cloud_options.get("ping_between"))}
            recorder = await Recorder(upstream, token=token, out_path=o.session_out,
                                      mode=o.mode, description="simulated %s session" % o.mode,
                                      log=None, ssl=serve_tls, upstream_ssl=upstream_tls,
                                      **framing).start()
            try:
                if on_device:
                    await self._run_device(board, recorder, token)
                else:
                    await self._run_app(board, recorder, token)
            finally:
                await recorder.stop()
            self.result.session = recorder.session
            self.result.frames_to_device = recorder.frames_to_device
            if recorder._t0 is not None:
                self.result.session_offset = recorder._t0 - self._loop_t0
        finally:
            from tools.sim.gaps import gaps

            if o.virtual_time:
                hostcompat.use_clock_ns(None)
            self.monitor.stop()
            self.result.gaps = gaps(self.result, self.monitor)
            if cloud is not None:
                await cloud.stop()
                self.result.cloud = cloud
            if hw is not None:
                self._collect_speaker(board, clock)
                self.result.machine = hw.machine  # the virtual hardware, for tests to inspect
                self.result.device = {"runtime": "cpython",
                                      "sys_implementation": mpruntime_host()}
                hw.uninstall()
        return self.result

    async def _run_device(self, board, recorder, token):
        from tools.sim import mpruntime

        cfg = config_for_device(self._config("ws://127.0.0.1:%d" % recorder.port, token,
                                             board.NAME))
        device = mpruntime.Device(self, board, heap_bytes=self.o.heap_bytes)
        await device.run(cfg, self.o.presses, self.o.duration, recorder, end_at=self.o.end_at)

    async def _run_app(self, board, recorder, token):
        from app import runner
        from app.log import Log

        cfg = self._config("ws://127.0.0.1:%d" % recorder.port, token, board.NAME)
        log = Log(sink=self._log_line)
        task = asyncio.create_task(runner.main(cfg=cfg, log=log, trace=self._trace))
        try:
            await self._script(runner, task, recorder)
        finally:
            self.app = runner.current()
            if self.app is not None:
                self.result.player_stats = dict(self.app.audio.player.stats)
                self._speaker_bus = self.app.hw["speaker_i2s"]
                # Power-off as a user would: the link closes cleanly, then the tasks stop.
                self._trace("power_off", "")
                try:
                    await asyncio.wait_for(self.app.link.close(), 2.0)
                except (asyncio.TimeoutError, OSError):
                    pass
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            runner.shutdown()

    async def _wait_for(self, predicate, until):
        while self.now() < until:
            if predicate():
                return True
            await asyncio.sleep(0.01)
        return predicate()

    async def _script(self, runner, task, recorder):
        o = self.o
        app = None
        if not await self._wait_for(lambda: runner.current() is not None or task.done(), 5):
            raise RuntimeError("the app did not start within 5 s")
        if task.done():
            task.result()
            raise RuntimeError("the app stopped at start-up (see its log)")
        app = runner.current()
        button = app.hw["button"]
        for press, release in o.presses:
            await self._wait_for(lambda: False, press)
            button.press()
            self._trace("button_press", "")
            recorder.note("button", "press")
            await self._wait_for(lambda: False, release)
            button.release()
            self._trace("button_release", "")
            recorder.note("button", "release")
        if o.end_at is not None:
            # On the session's clock: a replay ends where its recording did, give or take the
            # few ms the link took to open.
            await self._wait_for(lambda: task.done() or (
                recorder._t0 is not None and recorder.now() >= o.end_at), o.end_at + 10.0)
        elif o.duration is not None:
            await self._wait_for(lambda: task.done() or self._error_held(app), o.duration)
        else:
            await self._settle(app, task)
        if task.done() and not task.cancelled():
            task.result()

    def _error_held(self, app):
        """True once the app has sat in ERROR for ERROR_HOLD_S. Only a press leaves ERROR, and
        the script has none left when it asks: the run can end there, on the app's state, not
        after a duration long enough for a loaded host to get there."""
        from app import state as S

        if app.sm.state != S.ERROR:
            self._error_since = None
            return False
        if self._error_since is None:
            self._error_since = self.now()
        return self.now() - self._error_since >= ERROR_HOLD_S

    async def _settle(self, app, task):
        # Until the last turn has played out (back to READY / LISTENING), bounded.
        from app import state as S

        last = max([r for _, r in self.o.presses] or [0.0])
        rest = S.READY if app.sm.mode == S.MODE_PTT else S.LISTENING
        spoke = lambda: any(n == "state" and d == "SPEAKING" and t > last  # noqa: E731
                            for t, n, d in self.result.trace)
        await self._wait_for(lambda: task.done() or (spoke() and app.sm.state == rest)
                             or self._error_held(app), last + 30.0)
        await self._wait_for(lambda: False, self.now() + 0.3)

    def _collect_speaker(self, board, clock):
        import numpy as np

        bus = getattr(self, "_speaker_bus", None)
        if bus is None:
            self.result.speaker = (np.zeros(0, dtype=np.int16), board.SPEAKER["rate"])
            return
        samples = np.asarray(bus.played_samples(0), dtype=np.int64)
        if bus.bits == 32:
            samples >>= 16  # codec buses carry the sample in the top half of a 32-bit slot
        samples = samples.astype(np.int16)
        self.result.speaker = (samples, bus.rate)
        offset = self._clock_offset
        self.result.speaker_t0 = bus._t0 / 1e6 + offset
        self.result.speaker_writes = [(t / 1e6 + offset, n) for t, n in bus.writes]
