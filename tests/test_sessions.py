"""Every recorded session in tests/sessions/ replays against the real app without departures.

Each file was made by tools/sim/record_sessions.py (the unchanged firmware app in the
simulator, through the recorder, against the fake cloud). Here the fake cloud replays it
(anchored to the app's uplink, tools/cloud/replay.py) while the app runs with the config and
button presses the session holds, and the replay must report no departure. Sessions run one at
a time in real time (a few seconds each). The coze-go chat capture is a text-message session
the app cannot produce (see test_coze_go_chat_capture_plays_through_the_app_downlink).
"""

import asyncio
import base64
import glob
import json
import os

import numpy as np
import pytest

from tools.session.format import read_session
from tools.sim.harness import run_on_loop
from tools.sim.record_sessions import EXPECT, SCENARIOS, ended_cleanly, unmet
from tools.sim.replay_check import compare_played, presses, replay

HERE = os.path.dirname(os.path.abspath(__file__))
SESSIONS = sorted(glob.glob(os.path.join(HERE, "sessions", "*.jsonl")))
_MAX_BYTES = 400 * 1024


def _name(path):
    return os.path.basename(path)[:-len(".jsonl")]


def run(coro, limit=60, virtual_time=False):
    return run_on_loop(coro, virtual_time, limit)


def test_the_sessions_cover_issue_7():
    names = {_name(p) for p in SESSIONS}
    assert len(names) >= 10
    assert names == set(SCENARIOS), "tests/sessions/ and record_sessions.SCENARIOS differ"
    with open(os.path.join(HERE, "sessions", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for name in names:
        assert "`%s.jsonl`" % name in readme, "%s is not listed in tests/sessions/README.md" % name


@pytest.mark.parametrize("path", SESSIONS, ids=_name)
def test_session_shows_its_scenario(path):
    assert os.path.getsize(path) < _MAX_BYTES
    session = read_session(path)
    name = _name(path)
    h = session.header
    assert h["cloud"] == "coze.chat" and h["url_path"] == "/v1/chat"
    assert h["scenario"] == name and h["description"] == SCENARIOS[name][0]
    assert h["sim"]["end_at"] > 0
    assert unmet(name, session) == [], "the recording does not show: %s" % EXPECT[name]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    assert "sim-token" not in text  # the simulator's token was redacted on every line
    if h["sim"]["mode"] == "ptt" and name != "greeting":
        assert presses(session, 0.0), "a push-to-talk session without a button press"


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
@pytest.mark.parametrize("path", SESSIONS, ids=_name)
def test_session_replays_without_departures(path, runtime):
    # Under both runtimes: the app in this process on virtual time, and the deployed .mpy tree
    # in the MicroPython unix port (tools/sim/mpruntime.py) in real time.
    session = read_session(path)
    virtual = runtime == "cpython"
    result, report = run(replay(session, runtime=runtime, virtual_time=virtual),
                         virtual_time=virtual)
    assert ended_cleanly(result) is None, result.log[-5:]
    assert report["departures"] == []
    assert report["connections"] == len(session.of_kind("close"))
    # The replayed answer reached the speaker (the cloud's audio went through the app).
    samples, _ = result.speaker
    if any(m.get("event_type") == "conversation.audio.delta" for m in session.downs()):
        assert (samples != 0).any()
    # The app sent the same uplink events as the recorded one, in order.
    kinds = [t for t in session.event_types("up") if t != "input_audio_buffer.append"]
    got = [t for t in result.session.event_types("up") if t != "input_audio_buffer.append"]
    assert got == kinds


def test_a_device_that_departs_from_a_session_is_reported():
    # The greeting session replayed by an app configured without a greeting: it never sends
    # input_text.generate_audio, and the replay says so.
    session = read_session(os.path.join(HERE, "sessions", "greeting.jsonl"))
    session.header["sim"] = dict(session.header["sim"], greeting="", end_at=1.0)
    _, report = run(replay(session))
    assert report["departures"], report
    assert report["departures"][0]["expected"] == "input_text.generate_audio"


# -- the coze-go chat capture ------------------------------------------------------------------
#
# websocket_chat_success.txt is a text-message session: right after chat.created the SDK sends
# conversation.message.create, and no chat.update. The app always answers chat.created with
# chat.update and has no way to send a typed message (CozeChat.send_text exists, but nothing in
# the app calls it), so replaying the capture against the whole app can only report a
# departure. Instead tools/cloud/client.py's play_uplink is the device's uplink (the replay must
# show no departure), and what the replaying cloud sent is then streamed over a real local
# WebSocket into the app's own downlink: websock client -> app Link -> CozeChat.feed -> Player
# -> virtual speaker I2S. The capture's 9.7 s of 24 kHz PCM must come out of the speaker
# complete and in order (the board's speaker runs at 24 kHz and volume 70 is unity: exact;
# see compare_played for the silence a stalled host inserts).


@pytest.fixture
def chat_capture(shared_fixtures):
    from tools.cloud.convert import convert

    with open(os.path.join(shared_fixtures, "coze-go", "websocket_chat_success.txt"),
              encoding="utf-8") as f:
        return convert(f.read())


async def _uplink_replay(capture):
    from tools.cloud.client import play_uplink
    from tools.cloud.fake_cloud import FakeCloud

    async with FakeCloud(token="test-token", replay=capture) as cloud:
        received = await play_uplink(cloud, capture, "test-token")
        for _ in range(50):
            if all(c.done for c in cloud.connections):
                break
            await asyncio.sleep(0.02)
        return received, cloud.replay_report()


async def _serve(messages):
    """A local WebSocket server that sends `messages`, then waits for the client to close."""
    from websockets.asyncio.server import serve

    async def handler(ws):
        for msg in messages:
            await ws.send(json.dumps(msg, ensure_ascii=False))
        await ws.wait_closed()

    return await serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None)


async def _play_through_app_downlink(messages):
    import config
    import websock
    from app import state as S
    from app.audio_path import AudioPath
    from app.cloud_session import make_session
    from app.downlink import Downlink
    from app.events import EventQueue
    from app.link import Link
    from app.log import Log

    import boards
    from tools.vhw.clock import LoopClock
    from tools.vhw.install import install

    board = boards.load("esp32s3_inmp441")
    hw_patch = install(clock=LoopClock(), chip=board.CHIP)
    server = None
    try:
        import machine

        hw = board.build(machine, speaker_rate=24000)  # the bus at the capture's rate
        cfg = config.validate({"wifi_ssid": "sim", "token": "t", "bot_id": "7400000000000000000",
                               "board": board.NAME, "codec": "pcm", "out_rate": 24000})
        lines = []
        log = Log(sink=lines.append)
        audio = AudioPath(board, hw, cfg, None)
        queue = EventQueue(64)
        session = make_session(cfg, "ptt", None, log)
        link = Link(session, log, queue, None, cfg["token"])
        link.downlink = Downlink(session, link, queue, log, None)
        link.downlink.player = audio.player
        player = audio.player.start()
        server = await _serve(messages)
        port = server.sockets[0].getsockname()[1]
        ws = await websock.connect("ws://127.0.0.1:%d/v1/chat" % port)
        link.ws = ws
        # The app's receive loop, as Link.connect() starts it (connect() itself would wait for
        # chat.updated, which a text session never gets).
        rx = asyncio.ensure_future(link.downlink.run(ws))
        events = []
        while S.E_TURN_DONE not in events:
            events.append((await asyncio.wait_for(queue.get(), 20))[0])
        audio.player.end_of_turn()
        await asyncio.wait_for(audio.player.idle.wait(), 20)
        await asyncio.sleep(0.1)  # the DMA plays out what it holds
        rx.cancel()
        await link.close()
        player.cancel()
        samples = np.asarray(hw["speaker_i2s"].played_samples(0), dtype=np.int16)
        return events, samples, audio.player.stats, lines
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
        hw_patch.uninstall()


def test_coze_go_chat_capture_plays_through_the_app_downlink(chat_capture):
    from app import state as S

    received, report = run(_uplink_replay(chat_capture))
    assert report == {"connections": 1, "departures": []}
    assert received[0] == chat_capture.downs()
    # On virtual time: the burst's 9.7 s play out on the loop's clock, whatever the host's load
    # (in real time a busy host starved the speaker task and the check had to allow 5% gaps).
    events, speaker, stats, log = run(_play_through_app_downlink(received[0]), virtual_time=True)
    assert events.count(S.E_AUDIO) == 1 and events[-1] == S.E_TURN_DONE
    want = np.frombuffer(b"".join(
        base64.b64decode(m["data"]["content"]) for m in chat_capture.downs()
        if m["event_type"] == "conversation.audio.delta"), dtype="<i2")
    assert len(want) / 24000 > 9.0
    played = compare_played(speaker, want)
    assert played["reason"] is None, played
    assert played["gaps"] == [], played["gaps"][:8]
    assert stats["underruns"] == 0
    assert any("bot" in line and "天气" in line for line in log)  # the answer text was logged

