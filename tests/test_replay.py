"""Replaying recorded sessions against a scripted device, anchored to its uplink."""

import asyncio
import json
import os

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from tools.cloud import audio
from tools.cloud.client import ScriptClient, play_uplink
from tools.cloud.convert import convert
from tools.cloud.fake_cloud import DEFAULT_REPLY, FakeCloud
from tools.cloud.replay import Plan, split_connections
from tools.session import Session, read_session, write_session
from tools.session.format import event_type

TOKEN = "test-token"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def replay(session, **kw):
    async with FakeCloud(token=TOKEN, replay=session) as cloud:
        received = await play_uplink(cloud, session, TOKEN, **kw)
        for _ in range(50):
            if all(c.done for c in cloud.connections):
                break
            await asyncio.sleep(0.02)
        return received, cloud.replay_report(), cloud.connections


@pytest.fixture
def chat_capture(shared_fixtures):
    path = os.path.join(shared_fixtures, "coze-go", "websocket_chat_success.txt")
    with open(path, encoding="utf-8") as f:
        return convert(f.read())


def test_coze_go_chat_capture_replays_without_departures(chat_capture):
    received, report, conns = run(replay(chat_capture))
    assert report == {"connections": 1, "departures": []}
    assert [event_type(m) for m in received[0]] == chat_capture.event_types("down")
    assert received[0] == chat_capture.downs()  # byte-for-byte what was recorded
    # Recorded gaps are kept: each down goes out no earlier than its recorded offset from the
    # up it answers, and the whole reply takes about as long as it did.
    log = conns[0].log
    t_up = next(e["t"] for e in log if e["dir"] == "up")
    downs = [e for e in log if e["dir"] == "down"]
    recorded = [r["t"] for r in chat_capture.records if "down" in r]
    for entry, t_rec in zip(downs[1:], recorded[1:], strict=True):
        assert entry["t"] - t_up >= t_rec - 1e-6
    assert downs[-1]["t"] - t_up < recorded[-1] + 1.0


def test_a_device_that_departs_is_reported(chat_capture):
    swap = ("conversation.message.create", "input_audio_buffer.complete")
    received, report, _ = run(replay(chat_capture, swap=swap))
    assert report["departures"][0] == {
        "connection": 0, "t": report["departures"][0]["t"], "index": 0,
        "expected": "conversation.message.create", "got": "input_audio_buffer.complete"}


async def record_reactive(update, pcm, complete=True, inject=None):
    """Record a session from the reactive fake cloud (its own log is format v1)."""
    async with FakeCloud(token=TOKEN, think_s=0.05, seed=7,
                         injections=[inject] if inject else []) as cloud:
        client = await ScriptClient.connect(cloud.url(bot_id="7400000000000000000"), TOKEN)
        await client.until("chat.created")
        await client.send("chat.update", update)
        await client.until("chat.updated")
        for i in range(0, len(pcm), 640):
            await client.append(pcm[i:i + 640])
        if complete:
            await client.send("input_audio_buffer.complete")
        try:
            await client.until("conversation.chat.completed")
        except ConnectionClosed:
            pass
        await client.close()
        await asyncio.sleep(0.05)
        return cloud.connections[0].session


def _speech(rate, lead_s, tail_s):
    samples, src = audio.read_wav(DEFAULT_REPLY)
    speech = audio.resample(samples, src, rate)
    return audio.encode(np.concatenate((np.zeros(int(rate * lead_s), np.int16), speech,
                                        np.zeros(int(rate * tail_s), np.int16))), "pcm")


def test_recorded_ptt_session_replays_with_a_few_frames_less_but_not_many(tmp_path):
    update = {"input_audio": {"sample_rate": 16000}, "output_audio": {"pcm_config": {
        "sample_rate": 16000, "frame_size_ms": 40}}}
    session = run(record_reactive(update, _speech(16000, 0.1, 0.1)))
    path = str(tmp_path / "ptt.jsonl")
    write_session(session, path)
    session = read_session(path)
    assert session.records[-1]["close"]["by"] == "device"
    _, report, _ = run(replay(session, skip_appends=3))
    assert report["departures"] == []
    _, report, _ = run(replay(session, skip_appends=40))
    (dep,) = report["departures"]
    assert dep["expected"].endswith(" appends") and dep["got"].endswith(" appends")


def test_downs_after_appends_wait_for_as_much_audio():
    update = {"input_audio": {"sample_rate": 16000},
              "turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}
    session = run(record_reactive(update, _speech(16000, 0.4, 0.6), complete=False))
    plan = Plan(split_connections(session)[0])
    started = next(a for a, _, r in plan.steps if "down" in r and
                   event_type(r["down"]) == "input_audio_buffer.speech_started")
    assert started[0] == "audio"
    received, report, conns = run(replay(session))
    assert report["departures"] == []
    log = conns[0].log
    total, t_reached = 0, None
    for e in log:
        if e["type"] == "input_audio_buffer.append":
            total += e["b64"] * 3 // 4
            if total >= started[1] and t_reached is None:
                t_reached = e["t"]
    t_started = next(e["t"] for e in log if e["type"] == "input_audio_buffer.speech_started")
    assert t_started >= t_reached


def test_close_then_reconnect_replays_each_connection(tmp_path):
    update = {"output_audio": {"pcm_config": {"frame_size_ms": 100}}}
    first = run(record_reactive(update, _speech(24000, 0.05, 0.05), inject="close:1011@audio:5"))
    second = run(record_reactive(update, _speech(24000, 0.05, 0.05)))
    assert first.records[-1]["close"] == {"by": "cloud", "code": 1011,
                                          "reason": "fake cloud: injected close"}
    t_end = first.records[-1]["t"] + 0.5
    both = Session(first.header, first.records + [dict(r, t=r["t"] + t_end)
                                                  for r in second.records])
    path = str(tmp_path / "reconnect.jsonl")
    write_session(both, path)
    both = read_session(path)
    received, report, conns = run(replay(both))
    assert report == {"connections": 2, "departures": []}
    assert [event_type(m) for m in received[0]].count("conversation.audio.delta") == 4
    assert conns[0].closed_by_server["code"] == 1011
    assert "conversation.chat.completed" in [event_type(m) for m in received[1]]


def test_every_written_line_is_json_with_time(tmp_path):
    session = run(record_reactive({}, _speech(24000, 0.05, 0.05)))
    path = tmp_path / "s.jsonl"
    write_session(session, str(path))
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["cloud"] == "coze.chat"
    assert all("t" in json.loads(line) for line in lines[1:])
