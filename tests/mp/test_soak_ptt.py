# Soak under real MicroPython, 500 push-to-talk turns each way:
# 1. through the running app: the controller's consumer task, state machine and actions, the Link
#    (session handshake, downlink, audio into the player, uplink frames), the Coze session and the
#    Player task, against a scripted cloud in this process (no sockets in this tier: the cloud's
#    messages reach the Link as the bytes a WebSocket would deliver). Every turn must complete,
#    with no error line, and the heap after a real collection must stay within HEAP_FLAT bytes
#    from turn 100 to turn 500 (a leak of 3 bytes a turn, one
#    16-byte GC block every 5 turns, fails it). tests/test_soak_unix.py runs
#    this module under the unix port with a bounded -X heapsize, where a leak also ends in
#    MemoryError.
# 2. the same turn without the scheduler (state machine, session builders and feed(), audio into
#    the player's ring, uplink frames): the bytes one whole turn allocates at turn 500 must equal
#    those at turn 10 within HEAP_SLACK.
#
# What a "heap after gc.collect()" is on each port (settled_heap() below):
# - unix port: gc.collect() collects at once, scanning the C stack conservatively.
# - WebAssembly port: gc.collect() only *requests* a collection. The port (ports/webassembly/
#   main.c, MICROPY_GC_SPLIT_HEAP_AUTO) runs it when control returns to JavaScript, where no C
#   stack is left to scan, and grows its heap instead of collecting when it fills. So a
#   mem_alloc() read right after gc.collect() counts all garbage since the last return to JS
#   (a loop of bytes(1000) "keeps" 1024 bytes per call: nothing has been collected yet). The
#   figure is read after an `await asyncio.sleep_ms()` that returns to JS.
# The saw-tooth this soak used to print on WebAssembly (173 KB rising ~430 bytes a turn to
# 305 KB, dropping at random turns) was not the app's but the port's, measured on Node 20 (heap
# after a real collection): each `await asyncio.sleep_ms(1)` made by the *top-level* coroutine
# (outside any asyncio task the port awaits a JavaScript Promise and hands it Python callbacks)
# keeps 29.9 bytes until V8 garbage-collects the JS side: the port's proxy table is a GC root
# whose slots only V8's FinalizationRegistry frees. With V8's GC forced first (node
# --expose-gc) the same 1000 awaits keep 48 bytes in all, and 1000 task wake-ups keep 496
# without it. The old soak polled ~25 times a turn from the top-level coroutine; forcing V8's
# GC before each reading made that soak flat (165.6-166.2 KB over 200 turns), and running it in
# a task, as now, does without forcing anything (161.6-161.8 KB over 500 turns). So the soak
# runs in a task and its WebAssembly readings hold the app's heap.
import array
import asyncio
import gc
import json
import sys

import b64
import micropython
from app import state as S
from app.controller import Controller
from cloud import base
from websock.errors import ConnectionClosed
from websock.frame import TEXT

import mptest
from audio.player import Player

TURNS = 500
HEAP_SLACK = 300  # bytes
HEAP_FLAT = 1024  # bytes: post-collection heap spread allowed from turn FLAT_FROM to TURNS
FLAT_FROM = 100  # turns before it: the first replies grow lists and caches to their final size
MEM_EVERY = 50  # turns between two micropython.mem_info() reports
_RATE = 16000
_DELTA = bytes(range(256)) * 2 + bytes(128)  # 640 bytes = 20 ms of 16 kHz PCM
_DELTAS = 3


def _msg(event_type, data=None, n=0):
    out = {"id": "e%d" % n, "event_type": event_type}
    if data is not None:
        out["data"] = data
    return json.dumps(out).encode()


class ScriptedCloud:
    """One connection's cloud side: chat.update -> chat.updated; complete -> one whole reply
    (completed, chat created/in progress, audio deltas, audio completed, chat completed)."""

    def __init__(self):
        self.inbox = []
        self._wake = asyncio.Event()
        self.closed = False
        self.appends = 0
        self.turn = 0
        self.unknown = []
        content = bytearray(b64.encoded_len(len(_DELTA)))
        b64.encode_into(_DELTA, len(_DELTA), content, 0)
        self._b64 = content.decode()
        self._push(_msg("chat.created"))

    def _push(self, payload):
        self.inbox.append(payload)
        self._wake.set()

    async def recv_part(self):
        # websock's receive interface: each message is handed over as one (final) part.
        while not self.inbox:
            if self.closed:
                raise ConnectionClosed(1000, 1000, "")
            self._wake.clear()
            await self._wake.wait()
        self.part = self.inbox.pop(0)
        self.part_len = len(self.part)
        self.fin = True
        return TEXT

    async def send_text(self, text):
        self.on_text(text)

    def on_text(self, text):
        etype = json.loads(text)["event_type"]
        if etype == "chat.update":
            self._push(_msg("chat.updated", {"chat_config": {}}))
        elif etype == "input_audio_buffer.complete":
            self.turn += 1
            chat = {"id": "c%d" % self.turn, "conversation_id": "conv1"}
            self._push(_msg("input_audio_buffer.completed"))
            self._push(_msg("conversation.chat.created", chat))
            self._push(_msg("conversation.chat.in_progress", chat))
            for i in range(_DELTAS):
                self._push(_msg("conversation.audio.delta", {
                    "id": "m%d" % self.turn, "chat_id": chat["id"], "conversation_id": "conv1",
                    "role": "assistant", "type": "answer", "content": self._b64}, i))
            self._push(_msg("conversation.audio.completed", {"id": "m%d" % self.turn}))
            self._push(_msg("conversation.chat.completed", chat))
        elif etype not in ("input_audio_buffer.clear", "conversation.chat.cancel"):
            self.unknown.append(etype)

    async def send_inplace(self, buf, n):
        self.appends += 1

    async def ping(self):
        pass

    async def close(self, code=1000):
        self.closed = True
        self._wake.set()


class Sink:
    """The speaker end: takes whatever the player writes, a millisecond per write."""

    def __init__(self):
        self.bytes = 0

    async def write(self, buf, nbytes=-1):
        self.bytes += len(buf) if nbytes < 0 else nbytes
        await asyncio.sleep_ms(1)

    def discard(self):
        pass


class Audio:
    # The app's view of the audio path for a soak without a mic: no frame captured yet, so a
    # press sends no pre-roll.
    has_frame = False

    def __init__(self, player):
        self.player = player

    def deinit(self):
        self.player.deinit()


class Lines:
    def __init__(self):
        self.errors = 0
        self.count = 0

    def sink(self, line):
        self.count += 1
        if " E " in line:
            self.errors += 1


async def _until(pred, limit_ms=5000):
    for _ in range(limit_ms):
        if pred():
            return True
        await asyncio.sleep_ms(1)
    return pred()


def tier():
    # From the interpreter itself, not mptest.TIER: tests/test_soak_unix.py runs this module
    # without the tier runner that sets it.
    return "webassembly" if sys.platform == "webassembly" else "unix"


async def settled_heap():
    """gc.mem_alloc() after a real collection (see the header)."""
    gc.collect()
    if tier() == "webassembly":
        await asyncio.sleep_ms(2)  # nothing else is due: the loop returns to JS, which collects
    return gc.mem_alloc()


async def _app_soak(out):
    import config
    from app.log import Log

    cfg = config.validate({"wifi_ssid": "w", "wifi_password": "p", "token": "pat_soak_token",
                           "bot_id": "7400000000000000000", "board": "esp32s3_inmp441",
                           "out_rate": _RATE, "log_level": "info"})
    # Boot-only, as app/runner.py does once the app is built: the validation code goes.
    config = None
    for name in ("config", "boards.esp32s3_inmp441", "boards"):
        sys.modules.pop(name, None)
    lines = Lines()
    log = Log(sink=lines.sink)
    log.set_level("info")
    clouds = []

    async def connect(url, headers):
        ws = ScriptedCloud()
        clouds.append(ws)
        return ws

    sink = Sink()
    player = Player(sink, rate=_RATE, buffer_ms=600, prefill_ms=40)
    app = Controller(cfg, {"button": None, "led": None}, Audio(player), log, connect=connect)
    tasks = [asyncio.create_task(app._consume()), asyncio.create_task(player.run())]
    pcm = bytearray(640)
    curve = out["curve"]  # preallocated: recording it allocates nothing
    try:
        app.queue.post(S.E_BOOTED)  # no network object: Wi-Fi is up at once
        assert await _until(lambda: app.sm.state == S.READY), S.STATE_NAMES[app.sm.state]
        for turn in range(1, TURNS + 1):
            app.queue.post(S.E_PRESS)
            assert await _until(lambda: app.uplink.streaming)
            for _ in range(3):  # three uplink frames, as the uplink task would send them
                await app.link.send_audio(app.session.audio_frame(pcm, len(pcm)))
            app.queue.post(S.E_RELEASE)
            ok = await _until(lambda t=turn: app.sm.state == S.READY and player.idle.is_set()
                              and clouds[-1].turn == t)
            assert ok, "turn %d stuck in %s" % (turn, S.STATE_NAMES[app.sm.state])
            if turn % 10 == 0:
                await asyncio.sleep_ms(5)  # let finished helper tasks end
                app._helpers = [t for t in app._helpers if not t.done()]
                curve[turn // 10 - 1] = await settled_heap()
            if turn % MEM_EVERY == 0 and tier() == "unix":
                # The port's own heap report (its "max free sz" is the largest free block, in
                # GC blocks): tests/test_soak_unix.py checks fragmentation does not grow. (Not
                # on WebAssembly: its heap grows instead of fragmenting, and printing hands JS
                # more objects whose release is V8's timing, see the header.)
                print("@@MEM %d" % turn)
                micropython.mem_info()
    finally:
        for task in tasks:
            task.cancel()
        app.link.deinit()
    out["ok"] = (len(clouds) == 1 and clouds[0].appends == 3 * TURNS and not clouds[0].unknown
                 and sink.bytes >= TURNS * _DELTAS * len(_DELTA) and lines.errors == 0)


async def test_500_ptt_turns_through_the_app():
    out = {"curve": array.array("i", [0] * (TURNS // 10)), "ok": False}
    # In a task, not in the top-level coroutine: on WebAssembly every top-level await keeps
    # ~30 bytes until V8 collects (see the header). On the unix port it is the same code path.
    await asyncio.create_task(_app_soak(out))
    curve = out["curve"]
    print("app soak heap after a real collection (%s tier; turn:bytes):" % tier())
    print(" ".join("%d:%d" % (10 * (i + 1), b) for i, b in enumerate(curve)))
    assert out["ok"], "a turn was lost, the cloud saw an unknown message, or an error was logged"
    tail = curve[FLAT_FROM // 10 - 1:]
    spread = max(tail) - min(tail)
    assert spread <= HEAP_FLAT, "heap after collection moved %d bytes from turn %d to %d" % (
        spread, FLAT_FROM, TURNS)


def _turn_sans_io(sm, session, cloud, player, pcm, chunk):
    actions = sm.handle(S.E_PRESS)
    assert S.A_START_STREAM in actions
    for msg in session.begin_turn():
        cloud.on_text(msg)
    for _ in range(3):
        buf, n = session.audio_frame(pcm, len(pcm))
        cloud.appends += 1
    sm.handle(S.E_RELEASE)
    for msg in session.end_turn():
        cloud.on_text(msg)
    first = True
    while cloud.inbox:
        ev = session.feed(memoryview(cloud.inbox.pop(0)))
        if ev.kind == base.EV_AUDIO:
            while True:
                n = ev.read_audio(chunk)
                if not n:
                    break
                player.write(chunk if n == len(chunk) else memoryview(chunk)[:n])
            if first:
                sm.handle(S.E_AUDIO)
                first = False
        elif ev.kind == base.EV_TURN_DONE:
            assert S.A_END_OF_TURN in sm.handle(S.E_TURN_DONE)
    player.clear()  # the play task would drain it; clear() empties it without a scheduler
    sm.handle(S.E_PLAYBACK_DONE)
    assert sm.state == S.READY


def make_sans_io():
    from cloud.coze_chat import CozeChat

    sm = S.StateMachine(S.MODE_PTT)
    for ev in (S.E_BOOTED, S.E_WIFI_UP, S.E_CONNECTED):
        sm.handle(ev)
    session = CozeChat({"bot_id": "7400000000000000000", "in_frame_ms": 20, "out_rate": _RATE},
                       log=lambda line: None)
    cloud = ScriptedCloud()
    cloud.inbox = []
    player = Player(Sink(), rate=_RATE, buffer_ms=600, prefill_ms=40)
    return sm, session, cloud, player, bytearray(640), bytearray(2048)


def test_500_ptt_turns_sans_io_allocate_the_same_every_turn():
    parts = make_sans_io()
    curve = []
    for turn in range(1, TURNS + 1):
        if turn % 10 == 0:
            curve.append((turn, mptest.alloc(_turn_sans_io, *parts)))
        else:
            _turn_sans_io(*parts)
    print("sans-IO soak: bytes one turn allocates (turn:bytes):")
    print(" ".join("%d:%d" % p for p in curve))
    growth = curve[-1][1] - curve[0][1]
    mptest.bench("soak_ptt_turn_alloc_growth", growth, "bytes", HEAP_SLACK, "micropython",
                 "allocation of turn 500 minus turn 10 (500 push-to-talk turns, sans-IO)")
    cloud, player = parts[2], parts[3]
    assert cloud.turn == TURNS and cloud.appends == 3 * TURNS
    assert player.stats["bytes_in"] == TURNS * _DELTAS * len(_DELTA)
    assert abs(growth) <= HEAP_SLACK, "turn 500 allocated %d bytes more than turn 10" % growth
