"""One simulated conversation under a fault: the real app -> FaultProxy -> Recorder -> FakeCloud.

    out = asyncio.run(run_scenario(Scenario("rst", "speaking", "ptt", ["rst@down:..."])))

The simulator (tools/sim) runs the app on virtual hardware; this subclass scripts the user
(press/hold/release in push-to-talk, speech fed into the virtual mic in free talk), waits for the
app to settle after the fault, repairs an auth fault the way a user would (the cloud accepts the
token again, the user presses), and then requires one more whole turn. What it checks is in
tools/fault/checks.py; the numbers it returns are what docs/reliability.md tabulates.
"""

import asyncio
import os
import time
import tracemalloc

from tools.fault import checks
from tools.sim.harness import FAKE_TOKEN, ROOT, SimOptions, Simulation

QUESTION_S = 1.5  # seconds of tests/data/mic/question.wav the user says (speech from 0.3 s)
REPLY_S = 2.0  # seconds of tests/data/reply/reply.wav the fake cloud answers with
HOLD_S = QUESTION_S + 0.2
SETTLE_S = 1.5  # settled: this long in READY/LISTENING/ERROR after the user fell silent
HEAP_SAMPLE_S = 1.0
_DEVICE_DIRS = (os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware"))
_LOG_PY = os.path.join(ROOT, "firmware", "app", "log.py")


def device_heap():
    """Bytes of live allocations made by code in lib/ and firmware/ (tracemalloc, 1 frame).

    Reads the snapshot's raw trace tuples: Snapshot.filter_traces() takes seconds on a busy
    process and would stall the simulated device while it runs."""
    prefixes = tuple(d + os.sep for d in _DEVICE_DIRS)
    total = 0
    for trace in tracemalloc.take_snapshot().traces._traces:
        frames = trace[2]
        # Log lines are formatted in app/log.py and kept by the simulator's sink (the device
        # prints them): host memory, not the app's.
        if frames and frames[0][0].startswith(prefixes) and frames[0][0] != _LOG_PY:
            total += trace[1]
    return total


def start_tracing():
    """Import the host-side heavyweights first, so tracemalloc only tracks what runs after."""
    import numpy  # noqa: F401
    import websockets.asyncio.client  # noqa: F401
    import websockets.asyncio.server  # noqa: F401

    import tools.cloud.coze_chat  # noqa: F401
    import tools.cloud.recorder  # noqa: F401
    import tools.vhw.install  # noqa: F401

    if not tracemalloc.is_tracing():
        tracemalloc.start(1)


class Scenario:
    def __init__(self, fault, phase, mode, specs, expect="rest", burst=False, http401=False,
                 outage_s=0.0, turns=2, fast=False):
        self.fault, self.phase, self.mode = fault, phase, mode
        self.specs = list(specs)  # tools/faultproxy.py fault specs
        self.expect = expect  # "rest" (READY / LISTENING) or "error" (auth)
        self.burst = burst  # 300 ms deltas: each is played in several pieces
        self.http401 = http401  # the cloud refuses the token until the app is in ERROR
        self.outage_s = outage_s  # how long the fault keeps the link down or frozen
        self.turns = turns  # user turns after boot (the last one must succeed)
        self.fast = fast  # part of the `make test` subset
        self.name = "%s-%s-%s" % (fault, phase, mode)

    def __repr__(self):
        return "Scenario(%s)" % self.name


def _short_wav(src, seconds, name):
    from tools.cloud.audio import read_wav, write_wav

    out_dir = os.path.join(ROOT, "out", "fault")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    samples, rate = read_wav(src)
    if not os.path.exists(path):
        tmp = "%s.%d.tmp" % (path, os.getpid())
        write_wav(tmp, samples[:int(seconds * rate)], rate)
        os.replace(tmp, path)
    return path


def short_audio():
    """(question WAV, reply WAV) cut to QUESTION_S / REPLY_S, written once under out/fault/."""
    return (_short_wav(os.path.join(ROOT, "tests", "data", "mic", "question.wav"), QUESTION_S,
                       "question.wav"),
            _short_wav(os.path.join(ROOT, "tests", "data", "reply", "reply.wav"), REPLY_S,
                       "reply.wav"))


class FaultSim(Simulation):
    """Simulation with a FaultProxy in front of the recorder and a scripted user."""

    def __init__(self, options, scenario, proxy, cloud, question_pcm):
        Simulation.__init__(self, options)
        self.sc = scenario
        self.proxy = proxy
        self.fake = cloud
        self.question_pcm = question_pcm
        self.mic = None
        self.turn_starts = []  # sim time of each user turn
        self.notes = []  # script failures (each one fails the scenario)
        self.info = []  # what the user did about the fault
        self.heap = []  # (t, device bytes)
        self.lag_max = 0.0  # worst event-loop lag seen (s)

    def _mic_source(self, board):
        from tools.vhw.i2s import PcmSource

        self.mic = PcmSource(b"")
        return self.mic

    async def _run_app(self, board, recorder, token):
        self.proxy.upstream = ("127.0.0.1", recorder.port)
        return await Simulation._run_app(self, board, recorder, token)

    def sim_time(self, monotonic_s):
        return monotonic_s - self._loop_t0  # proxy times are on the loop's clock too

    def state(self):
        from app import state as S

        app = self.app_now
        return S.STATE_NAMES[app.sm.state] if app is not None else "BOOT"

    async def _until(self, predicate, timeout):
        end = self.now() + timeout
        while self.now() < end:
            if predicate():
                return True
            await asyncio.sleep(0.02)
        return predicate()

    async def _settled(self, rest, timeout, since):
        """Wait until the state moved after `since` and then stayed in rest/ERROR SETTLE_S."""
        busy = [since]

        def ok():
            states = self.result.states()
            if self.mic is not None and self.mic.remaining() > 0:
                busy[0] = self.now()  # the user is still talking
                return False
            if not states or states[-1][1] not in (rest, "ERROR") or self._cloud_busy() or (
                    states[-1][1] == rest and not self._link_live(rest)):
                busy[0] = max(busy[0], self.now() - SETTLE_S + 0.5)
                return False
            return self.now() - max(states[-1][0], busy[0]) >= SETTLE_S
        return await self._until(ok, timeout)

    def _link_live(self, rest):
        """The app's state says rest; the cloud must agree before the user speaks: its newest
        connection is open and configured, and in free talk the mic's frames are arriving
        (a state that lags a dead or half-open link would swallow the next question)."""
        conns = self.fake.connections if self.fake is not None else []
        if not conns:
            return False
        conn = conns[-1]
        if conn.ws.state.name != "OPEN" or not conn.received("chat.update"):
            return False
        if rest != "LISTENING":
            return True
        appends = conn.received("input_audio_buffer.append")
        return bool(appends) and conn.now() - appends[-1]["t"] < 0.5

    def _cloud_busy(self):
        # The fake cloud runs in this process: a reply still being sent, or its VAD still
        # hearing speech, means the turn is not over even if the app looks idle (a loaded
        # machine can make the app's state lag the cloud's by a second).
        conns = self.fake.connections if self.fake is not None else []
        conn = conns[-1] if conns else None
        if conn is not None and conn.ws.state.name == "OPEN":
            if getattr(conn, "turn", None) is not None:
                return True
            vad = getattr(conn, "vad", None)
            if vad is not None and vad.speaking:
                return True
        app = self.app_now
        return app is not None and not app.audio.player.idle.is_set()

    async def _turn(self, ptt):
        self.turn_starts.append(self.now())
        self.mic.feed(self.question_pcm)
        if ptt:
            button = self.app_now.hw["button"]
            button.press()
            self._trace("button_press", "")
            await asyncio.sleep(HOLD_S)
            button.release()
            self._trace("button_release", "")

    async def _press_short(self):
        button = self.app_now.hw["button"]
        button.press()
        self._trace("button_press", "")
        await asyncio.sleep(0.1)
        button.release()
        self._trace("button_release", "")

    async def _lag_monitor(self):
        # How late a 50 ms sleep wakes up: a loaded host makes the real-time simulation lag
        # (reported with the result, to read alongside a failure).
        while True:
            t = self.now()
            await asyncio.sleep(0.05)
            self.lag_max = max(self.lag_max, self.now() - t - 0.05)

    async def _heap_sampler(self):
        while True:
            self.heap.append((self.now(), device_heap()))
            await asyncio.sleep(HEAP_SAMPLE_S)

    async def _script(self, runner, task, recorder):
        sc = self.sc
        ptt = sc.mode == "ptt"
        rest = "READY" if ptt else "LISTENING"
        if not await self._until(lambda: runner.current() is not None or task.done(), 5):
            raise RuntimeError("the app did not start within 5 s")
        self.app_now = runner.current()
        helpers = [asyncio.ensure_future(self._lag_monitor())]
        if tracemalloc.is_tracing():
            helpers.append(asyncio.ensure_future(self._heap_sampler()))
        try:
            await self._conversation(ptt, rest)
        finally:
            for helper in helpers:
                helper.cancel()
        if task.done() and not task.cancelled():
            task.result()

    async def _conversation(self, ptt, rest):
        sc = self.sc
        budget = checks.recovery_bound(sc) + 15
        if not await self._settled(rest, budget, 0.0):
            self.notes.append("did not settle after boot (state %s)" % self.state())
            return
        for turn in range(sc.turns):
            if self.state() == "ERROR":
                # The user fixes what was wrong (here: the cloud takes the token again) and
                # presses once to reconnect.
                if self.fake is not None:
                    self.fake.options.token = FAKE_TOKEN
                self.info.append("ERROR at %.2f s: press to reconnect" % self.now())
                await self._press_short()
                if not await self._settled(rest, 15, self.now()):
                    self.notes.append("no reconnect from ERROR (state %s)" % self.state())
                    return
            start = self.now()
            await self._turn(ptt)
            last = turn == sc.turns - 1
            timeout = budget + QUESTION_S + REPLY_S + 10
            if not await self._settled(rest, timeout, start + 0.05):
                self.notes.append("turn %d did not settle (state %s)" % (turn + 1,
                                                                         self.state()))
                return
            if not last and self.state() == rest:
                # Let a reply that arrived late (after a reconnect) play out before the next.
                await self._until(lambda: self.app_now.audio.player.idle.is_set(), 10)


async def stop_cloud(cloud):
    # A connection whose device side was reset can stay open between the recorder and the fake
    # cloud (noted in the report); stopping would then wait out websockets' 10 s close timeout.
    from websockets.protocol import State

    for conn in cloud.connections:
        if conn.ws.state is State.OPEN:
            conn.ws.transport.abort()
    await cloud.stop()


async def run_scenario(sc, echo=None, heap=True, virtual_time=False):
    """Run one scenario; returns checks.evaluate()'s dict (JSON-friendly). With virtual_time
    (await it on tools.sim.harness.run_on_loop(..., virtual_time=True)) the app, the proxy and
    the fake cloud share the loop's compacted clock: a loaded host cannot make the virtual mic
    overflow or a timer fire late, so the outcome is the same on any machine."""
    from tools.cloud.audio import read_wav
    from tools.cloud.fake_cloud import FakeCloud
    from tools.faultproxy import FaultProxy

    if heap:
        start_tracing()
    question, reply = short_audio()
    samples, _ = read_wav(question)
    cloud = await FakeCloud(token="not-" + FAKE_TOKEN if sc.http401 else FAKE_TOKEN,
                            reply_wav=reply, burst=sc.burst).start()
    proxy = await FaultProxy(None, sc.specs, log=echo).start()
    opts = SimOptions(url="ws://127.0.0.1:%d" % cloud.port, token=FAKE_TOKEN, mode=sc.mode,
                      mic=None, out_rate=24000, volume=70, echo=echo, duration=None,
                      extra_config={"base_url": proxy.url()}, virtual_time=virtual_time)
    sim = FaultSim(opts, sc, proxy, cloud, samples.astype("<i2").tobytes())
    sim.app_now = None
    t0 = time.monotonic()
    try:
        result = await sim.run()
    finally:
        await proxy.stop()
        await stop_cloud(cloud)
    wall = time.monotonic() - t0
    peak = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else None
    return checks.evaluate(sc, sim, result, cloud, proxy, wall, peak)
