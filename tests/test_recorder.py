"""The recorder proxy: relays a device to an upstream cloud and writes a redacted v1 session."""

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tools.cloud.client import ScriptClient, play_uplink
from tools.cloud.fake_cloud import FakeCloud
from tools.cloud.recorder import Recorder
from tools.session import read_session
from tools.session.format import event_type

SECRET = "pat_SECRET123"
DEVICE_SECRET = "pat_DEVICE456"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def _talk(client, text_with_secret=False):
    await client.until("chat.created")
    await client.send("chat.update", {"output_audio": {"pcm_config": {"frame_size_ms": 100}}})
    await client.until("chat.updated")
    if text_with_secret:
        await client.send("conversation.message.create",
                          {"role": "user", "content_type": "text",
                           "content": "please remember " + SECRET})
        await client.until("conversation.chat.completed")
    for _ in range(20):
        await client.append(b"\x10\x27" * 480)
    await client.send("input_audio_buffer.complete")
    await client.until("conversation.chat.completed")


def test_recording_is_complete_redacted_and_replays(tmp_path):
    out = str(tmp_path / "rec.jsonl")
    lines = []

    async def go():
        async with FakeCloud(token=SECRET, think_s=0) as cloud:
            upstream = "ws://127.0.0.1:%d" % cloud.port
            async with Recorder(upstream, token=SECRET, out_path=out, mode="ptt",
                                log=lines.append) as rec:
                client = await ScriptClient.connect(
                    rec.url("/v1/chat", bot_id="7400000000000000000"), DEVICE_SECRET)
                rec.note("button", "press")
                await _talk(client, text_with_secret=True)
                await client.close()
                await asyncio.sleep(0.1)
            return cloud.connections[0], client

    conn, client = run(go())
    with open(out, encoding="utf-8") as f:
        text = f.read()
    assert SECRET not in text and DEVICE_SECRET not in text
    assert "<redacted>" in text  # the message content that quoted the token
    assert lines and not any(SECRET in line or DEVICE_SECRET in line for line in lines)
    session = read_session(out)
    assert session.header["cloud"] == "coze.chat" and session.header["mode"] == "ptt"
    assert session.header["query"] == {"bot_id": "7400000000000000000"}
    # Everything the cloud saw and sent is in the recording, in order.
    assert session.event_types("up") == [e["type"] for e in conn.log if e["dir"] == "up"]
    assert session.event_types("down") == [event_type(m) for m in client.received]
    assert session.records[-1]["close"]["by"] == "device"
    assert any(r.get("button") == "press" for r in session.records)

    async def replay():
        async with FakeCloud(token="test-token", replay=session) as cloud:
            await play_uplink(cloud, session)
            await asyncio.sleep(0.1)
            return cloud.replay_report()

    assert run(replay())["departures"] == []


def test_upstream_refusal_is_passed_on_without_the_token(tmp_path):
    lines = []

    async def go():
        async with FakeCloud(token="pat_OTHER999") as cloud:
            async with Recorder("ws://127.0.0.1:%d" % cloud.port, token=SECRET,
                                out_path=str(tmp_path / "r.jsonl"), log=lines.append) as rec:
                with pytest.raises(InvalidStatus) as info:
                    await ScriptClient.connect(rec.url("/v1/chat", bot_id="1"), None)
                return info.value.response

    resp = run(go())
    assert resp.status_code == 401 and resp.headers["X-Tt-Logid"]
    assert SECRET.encode() not in resp.body
    assert any("HTTP 401" in line for line in lines)
    assert not any(SECRET in line for line in lines)


def test_cloud_close_mid_turn_is_recorded_and_passed_on(tmp_path):
    out = str(tmp_path / "close.jsonl")

    async def go():
        async with FakeCloud(token=SECRET, think_s=0, injections=["close:1011@audio:3"]) as cloud:
            async with Recorder("ws://127.0.0.1:%d" % cloud.port, token=SECRET, out_path=out,
                                log=None) as rec:
                client = await ScriptClient.connect(rec.url("/v1/chat", bot_id="1"), None)
                with pytest.raises(ConnectionClosed) as info:
                    await _talk(client)
                await asyncio.sleep(0.1)
                return info.value

    closed = run(go())
    assert closed.rcvd.code == 1011
    session = read_session(out)
    assert session.records[-1]["close"]["by"] == "cloud"
    assert session.records[-1]["close"]["code"] == 1011
    assert session.event_types("down").count("conversation.audio.delta") == 2


def test_the_device_hop_can_carry_fragments_the_relay_gets_whole():
    # websockets hands the relay whole messages; down_fragment_bytes frames them anew for the
    # device, or a simulator's fragment test would never reach the app's fragment path.
    async def go():
        async with FakeCloud(token=SECRET, think_s=0) as cloud:
            upstream = "ws://127.0.0.1:%d" % cloud.port
            async with Recorder(upstream, token=SECRET, log=None, down_fragment_bytes=3,
                                down_pings=True) as rec:
                client = await ScriptClient.connect(
                    rec.url("/v1/chat", bot_id="7400000000000000000"), DEVICE_SECRET)
                parts = [p async for p in client.ws.recv_streaming(decode=False)]
                await client.close()
            return parts, cloud.connections[0].sent()[0], rec.frames_to_device

    parts, first, frames = run(go())
    whole = b"".join(parts)
    assert event_type(json.loads(whole)) == first["type"] == "chat.created"
    # (websockets ends a fragmented message with an empty final frame)
    assert parts[-1] == b"" and len(parts) - 1 == -(-len(whole) // 3) == frames
    assert max(map(len, parts)) == 3
