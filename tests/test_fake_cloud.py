"""The fake Coze / Qwen cloud, driven over 127.0.0.1 by a tiny scripted client."""

import asyncio
import base64
import os
import subprocess
import sys

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tools.cloud import audio
from tools.cloud.client import ScriptClient
from tools.cloud.fake_cloud import DEFAULT_REPLY, QWEN_PATH, FakeCloud

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "test-token"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def reply_at(rate):
    samples, src = audio.read_wav(DEFAULT_REPLY)
    return audio.resample(samples, src, rate)


def speech_pcm(rate, lead_s=0.5, tail_s=1.0):
    """Silence, the reply WAV as 'speech', silence: int16 LE bytes at `rate`."""
    quiet = np.zeros(int(rate * lead_s), dtype=np.int16)
    tail = np.zeros(int(rate * tail_s), dtype=np.int16)
    return audio.encode(np.concatenate((quiet, reply_at(rate), tail)), "pcm")


async def open_chat(cloud, update=None, **query):
    client = await ScriptClient.connect(cloud.url(bot_id="7400000000000000000", **query), TOKEN)
    assert (await client.recv())["event_type"] == "chat.created"
    if update is not None:
        await client.send("chat.update", update)
        await client.until("chat.updated")
    return client


async def stream(client, pcm, frame_bytes=640):
    for i in range(0, len(pcm), frame_bytes):
        await client.append(pcm[i:i + frame_bytes])


PTT_16K = {"input_audio": {"codec": "pcm", "sample_rate": 16000},
           "output_audio": {"codec": "pcm", "pcm_config": {"sample_rate": 24000}}}
TURN = ["conversation.message.completed", "conversation.chat.created",
        "conversation.chat.in_progress"]


def test_ptt_turn_has_the_real_event_sequence_and_the_whole_reply():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0) as cloud:
            client = await open_chat(cloud, PTT_16K)
            updated = client.received[-1]
            assert updated["data"]["input_audio"]["sample_rate"] == 16000
            logid = updated["detail"]["logid"]
            assert logid.startswith("02") and len(logid) == 53
            await stream(client, speech_pcm(16000, 0.1, 0.1))
            await client.send("input_audio_buffer.complete")
            done = await client.until("conversation.chat.completed")
            await client.close()
            return client, done

    client, done = run(go())
    types = client.types()
    i = types.index("input_audio_buffer.completed")
    assert types[i + 1:i + 4] == TURN
    body = types[i + 4:]
    assert body[0] == "conversation.message.delta"
    assert body.count("conversation.message.completed") == 2
    assert body[-2:] == ["conversation.audio.completed", "conversation.chat.completed"]
    assert body.index("conversation.audio.sentence_start") < body.index("conversation.audio.delta")
    assert done["data"]["status"] == "completed" and int(done["detail"]["respond_at"]) > 0
    got = np.frombuffer(client.audio(), dtype="<i2")
    assert np.array_equal(got, reply_at(24000))  # complete and in order


@pytest.mark.parametrize("codec", ["g711a", "g711u"])
def test_g711_output_is_8khz_in_the_requested_law(codec):
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0) as cloud:
            client = await open_chat(cloud, {"output_audio": {
                "codec": codec, "pcm_config": {"sample_rate": 16000, "frame_size_ms": 20}}})
            assert client.received[-1]["data"]["output_audio"]["pcm_config"]["sample_rate"] == 8000
            await stream(client, speech_pcm(24000, 0.1, 0.1))
            await client.send("input_audio_buffer.complete")
            await client.until("conversation.chat.completed")
            await client.close()
            return client

    client = run(go())
    assert client.audio() == audio.encode(reply_at(8000), codec)
    first = next(m for m in client.received if m["event_type"] == "conversation.audio.delta")
    assert len(base64.b64decode(first["data"]["content"])) == 160  # 20 ms at 8 kHz, 1 B/sample


def test_wrong_or_missing_token_gets_http_401_with_a_logid():
    async def go():
        async with FakeCloud(token="pat_right") as cloud:
            for token in ("pat_wrong", ""):
                with pytest.raises(InvalidStatus) as info:
                    await ScriptClient.connect(cloud.url(bot_id="1"), token)
                resp = info.value.response
                assert resp.status_code == 401
                assert resp.headers["X-Tt-Logid"]
                assert b"pat_right" not in resp.body and b"pat_wrong" not in resp.body
            assert cloud.connections == []

    run(go())


def test_server_vad_detects_speech_in_the_uplink_and_answers():
    update = {"input_audio": {"sample_rate": 16000},
              "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}

    async def go():
        async with FakeCloud(token=TOKEN, think_s=0) as cloud:
            client = await open_chat(cloud, update)
            await stream(client, speech_pcm(16000, lead_s=0.5, tail_s=0.8))
            await client.until("conversation.chat.completed")
            await client.close()
            return cloud.connections[0].log, client

    log, client = run(go())
    order = [e["type"] for e in log if e["type"] != "conversation.audio.delta"]
    start = order.index("input_audio_buffer.speech_started")
    stop = order.index("input_audio_buffer.speech_stopped")
    assert start < stop < order.index("conversation.chat.created")
    # 20 ms frames: speech begins after the 25 frames of lead silence, detected within ~5 more.
    appends_before = order[:start].count("input_audio_buffer.append")
    assert 25 <= appends_before <= 31, appends_before
    speech_frames = len(reply_at(16000)) // 320
    appends_to_stop = order[:stop].count("input_audio_buffer.append")
    assert 25 + speech_frames <= appends_to_stop <= 25 + speech_frames + 30
    assert "input_audio_buffer.completed" not in client.types()


def test_cancel_stops_the_audio_and_answers_canceled():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0) as cloud:
            client = await open_chat(cloud, {"output_audio": {"pcm_config": {
                "frame_size_ms": 20, "limit_config": {"period": 1, "max_frame_num": 10}}}})
            await stream(client, speech_pcm(24000, 0.1, 0.1))
            await client.send("input_audio_buffer.complete")
            await client.until("conversation.audio.delta")
            await client.send("conversation.chat.cancel")
            canceled = await client.until("conversation.chat.canceled")
            await asyncio.sleep(0.3)
            await client.close()
            return cloud.connections[0].log, canceled

    log, canceled = run(go())
    assert canceled["data"]["code"] == 2
    types = [e["type"] for e in log if e["dir"] == "down"]
    after = types[types.index("conversation.chat.canceled") + 1:]
    assert "conversation.audio.delta" not in after and "conversation.chat.completed" not in after
    assert types.count("conversation.audio.delta") <= 10  # the pacer held the rest back


def test_chat_update_changes_what_is_sent_and_keeps_what_is_left_out():
    # The seed's rule (coze-realtime-uplink-events.txt): a field sent is changed, an empty value
    # too; a field left out keeps its value. So server_vad stays on until the device sends
    # client_interrupt (or an empty turn_detection).
    free = {"turn_detection": {"type": "server_vad", "silence_duration_ms": 700}}

    async def go():
        async with FakeCloud(token=TOKEN, think_s=0) as cloud:
            client = await open_chat(cloud, free)
            echoes = []
            for update in ({"output_audio": {"speech_rate": 20}},
                           {"turn_detection": {"type": "client_interrupt"}},
                           {"turn_detection": free["turn_detection"]}, {"turn_detection": {}}):
                await client.send("chat.update", update)
                echoes.append((await client.until("chat.updated"))["data"])
            await client.close()
            return echoes

    kept, ptt, again, reset = run(go())
    assert kept["turn_detection"]["type"] == "server_vad"  # left out: still free talk
    assert kept["output_audio"]["speech_rate"] == 20
    assert kept["output_audio"]["pcm_config"]["sample_rate"] == 24000  # the rest of the section
    assert ptt["turn_detection"]["type"] == "client_interrupt"
    assert again["turn_detection"]["type"] == "server_vad" and reset["turn_detection"] == {}


def test_a_refused_update_changes_nothing_and_names_the_field():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0, voices=["7426720361733046281"]) as cloud:
            client = await open_chat(cloud, {"output_audio": {"voice_id": "7426720361733046281",
                                                              "speech_rate": 10}})
            await client.send("chat.update", {"output_audio": {"voice_id": "123",
                                                               "speech_rate": 50}})
            error = await client.until("error", "chat.updated")
            await client.send("chat.update", {})
            echo = (await client.until("chat.updated"))["data"]
            await client.close()
            return error, echo

    error, echo = run(go())
    assert error["event_type"] == "error" and error["data"]["code"] == 4000
    assert "output_audio.voice_id" in error["data"]["msg"]
    assert echo["output_audio"]["voice_id"] == "7426720361733046281"
    assert echo["output_audio"]["speech_rate"] == 10


def test_a_conversation_id_in_chat_update_is_resumed():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0) as cloud:
            client = await open_chat(cloud, dict(
                PTT_16K, chat_config={"conversation_id": "7411111111111111111"}))
            await stream(client, speech_pcm(16000, 0.1, 0.1))
            await client.send("input_audio_buffer.complete")
            created = await client.until("conversation.chat.created")
            await client.close()
            return created

    assert run(go())["data"]["conversation_id"] == "7411111111111111111"


def test_closing_with_the_answer_unread_completes_the_handshake():
    # More than websockets' 16 unread frames stop its reader; the cloud's close reply is then
    # queued behind them, and a close that did not read on would time out (code 1006).
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0) as cloud:
            client = await open_chat(cloud, PTT_16K)
            await stream(client, speech_pcm(16000, 0.1, 0.1))
            await client.send("input_audio_buffer.complete")
            for _ in range(500):
                if len(cloud.connections[0].sent()) >= 24 or \
                        cloud.connections[0].sent("conversation.chat.completed"):
                    break
                await asyncio.sleep(0.01)
            unread = len(cloud.connections[0].sent()) - len(client.received)
            await client.close()
            return unread, client.ws.close_code

    unread, code = run(go())
    assert unread > 16
    assert code == 1000


@pytest.mark.parametrize("bare", [False, True])
def test_late_frames_and_a_cloud_side_cancel(bare):
    inject = "cancel:bare@audio:4" if bare else "cancel@audio:4"

    async def go():
        async with FakeCloud(token=TOKEN, think_s=0, late_frames=2, burst=True,
                             injections=[inject]) as cloud:
            client = await open_chat(cloud, PTT_16K)
            await stream(client, speech_pcm(16000, 0.1, 0.1))
            await client.send("input_audio_buffer.complete")
            canceled = await client.until("conversation.chat.canceled")
            await client.close()
            return client.types(), canceled

    types, canceled = run(go())
    body = types[types.index("conversation.chat.in_progress"):]
    assert body.count("conversation.audio.delta") == 3 + 2  # 3 sent, then 2 late ones
    assert body[-1] == "conversation.chat.canceled"
    assert ("data" not in canceled) if bare else canceled["data"]["code"] == 1


def _frames_per_window(log, period):
    times = [e["t"] for e in log if e["type"] == "conversation.audio.delta"]
    buckets = {}
    for t in times:
        k = int((t - times[0]) // period)
        buckets[k] = buckets.get(k, 0) + 1
    return [buckets.get(k, 0) for k in range(max(buckets) + 1)], len(times)


@pytest.mark.parametrize("burst", [False, True])
def test_limit_config_pacing_and_burst_mode(burst):
    period, max_frames = (0.25, 20) if not burst else (1.0, 20)
    update = {"output_audio": {"pcm_config": {
        "sample_rate": 16000, "frame_size_ms": 60,
        "limit_config": {"period": period, "max_frame_num": max_frames}}}}

    async def go():
        async with FakeCloud(token=TOKEN, think_s=0, burst=burst) as cloud:
            client = await open_chat(cloud, update)
            await stream(client, speech_pcm(24000, 0.1, 0.1))
            await client.send("input_audio_buffer.complete")
            await client.until("conversation.chat.completed")
            await client.close()
            return cloud.connections[0].log

    per_window, total = _frames_per_window(run(go()), period)
    assert total == -(-len(reply_at(16000)) // 960)
    if burst:
        assert per_window[0] > max_frames  # the real capture's burst: no pacing at all
    else:
        assert per_window == [20, 20, 20, total - 60]


def _inject_run(spec, update=None):
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0, injections=[spec]) as cloud:
            client = await ScriptClient.connect(cloud.url(bot_id="1"), TOKEN)
            closed = None
            try:
                await client.until("chat.created")
                await client.send("chat.update", update or {"output_audio": {"pcm_config": {
                    "frame_size_ms": 100}}})
                await client.until("chat.updated", "error")
                await stream(client, speech_pcm(24000, 0.1, 0.1))
                await client.send("input_audio_buffer.complete")
                await client.until("conversation.chat.completed", timeout=1.5)
            except ConnectionClosed as e:
                closed = e
                try:  # what arrived before the close is still readable
                    while True:
                        await client.recv(1)
                except (ConnectionClosed, TimeoutError):
                    pass
            except TimeoutError:
                pass
            await client.close()
            return client, closed, cloud.connections[0]

    return run(go())


@pytest.mark.parametrize("code", [4100, 5000])
def test_injected_error_event_at_connect_and_mid_turn(code):
    when = "connect" if code == 4100 else "audio:3"
    client, closed, conn = _inject_run("error:%d@%s" % (code, when))
    errors = [m for m in client.received if m["event_type"] == "error"]
    assert [e["data"]["code"] for e in errors] == [code]
    if code == 4100:
        assert closed is not None and conn.closed_by_server["code"] == 1000
    else:
        assert client.types().count("conversation.audio.delta") == 2
        assert "conversation.chat.completed" not in client.types()


def test_injected_4016_instead_of_a_turn():
    client, closed, _ = _inject_run("error:4016@complete")
    assert closed is None
    assert "conversation.chat.created" not in client.types()
    assert client.received[-1]["data"]["code"] == 4016


def test_injected_close_mid_turn_and_stall():
    client, closed, conn = _inject_run("close:1011@audio:4")
    assert closed is not None and closed.rcvd.code == 1011
    assert client.types().count("conversation.audio.delta") == 3
    client, closed, conn = _inject_run("stall:0.6@audio:2")
    times = [e["t"] for e in conn.log if e["type"] == "conversation.audio.delta"]
    gaps = np.diff(times)
    assert gaps[0] >= 0.6 and max(gaps[1:]) < 0.6
    assert "conversation.chat.completed" in client.types()


def test_injection_requested_through_the_url_and_abort():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0) as cloud:
            client = await open_chat(cloud, {}, fake_inject="close:abort@complete")
            await stream(client, speech_pcm(24000, 0.05, 0.05))
            await client.send("input_audio_buffer.complete")
            with pytest.raises(ConnectionClosed) as info:
                await client.until("conversation.chat.created")
            return info.value

    closed = run(go())
    assert closed.rcvd is None  # no close frame: a dropped TCP connection


def test_complete_while_a_chat_runs_is_4016_and_second_turn_after_completion_works():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0.5) as cloud:
            client = await open_chat(cloud, {})
            await stream(client, speech_pcm(24000, 0.05, 0.05))
            await client.send("input_audio_buffer.complete")
            await client.until("conversation.chat.in_progress")
            await client.append(b"\x00\x01" * 480)
            await client.send("input_audio_buffer.complete")
            err = await client.until("error")
            await client.until("conversation.chat.completed")
            await client.append(b"\x00\x01" * 480)
            await client.send("input_audio_buffer.complete")
            await client.until("conversation.chat.completed")
            await client.close()
            return err, client.types().count("conversation.chat.completed")

    err, turns = run(go())
    assert err["data"]["code"] == 4016 and turns == 2


def test_tool_call_requires_action_then_submit_tool_outputs():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0,
                             tool_call=("set_volume", {"volume": 40})) as cloud:
            client = await open_chat(cloud, {})
            await stream(client, speech_pcm(24000, 0.05, 0.05))
            await client.send("input_audio_buffer.complete")
            ask = await client.until("conversation.chat.requires_action")
            call = ask["data"]["required_action"]["submit_tool_outputs"]["tool_calls"][0]
            assert call["function"]["name"] == "set_volume"
            assert call["function"]["arguments"] == '{"volume": 40}'
            assert "conversation.audio.delta" not in client.types()
            await client.send("conversation.chat.submit_tool_outputs", {
                "chat_id": ask["data"]["id"],
                "tool_outputs": [{"tool_call_id": call["id"], "output": "ok"}]})
            await client.until("conversation.chat.completed")
            await client.close()
            return client.types()

    types = run(go())
    i = types.index("conversation.chat.requires_action")
    assert types[i + 1] == "conversation.chat.in_progress"
    assert "conversation.audio.delta" in types[i:]


def test_generate_audio_clear_and_conversation_clear():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0) as cloud:
            client = await open_chat(cloud, {})
            await client.send("input_text.generate_audio", {"mode": "text", "text": "Hi there."})
            await client.until("conversation.audio.completed")
            await client.send("input_audio_buffer.clear")
            await client.until("input_audio_buffer.cleared")
            await client.send("conversation.clear")
            await client.until("conversation.cleared")
            await client.close()
            return client.types()

    types = run(go())
    spoken = types[types.index("chat.updated") + 1:types.index("conversation.audio.completed")]
    assert spoken[0] == "conversation.audio.sentence_start"
    assert set(spoken[1:]) == {"conversation.audio.delta"}
    assert "conversation.chat.created" not in types


def test_greeting_when_need_play_prologue():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0) as cloud:
            client = await open_chat(cloud, {"need_play_prologue": True})
            await client.until("conversation.audio.completed")
            await client.close()
            return client.audio()

    assert len(run(go())) == 2 * len(reply_at(24000))


def test_qwen_manual_turn_and_cancel():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0, qwen_speed=10) as cloud:
            client = await ScriptClient.connect(cloud.url(QWEN_PATH, model="qwen-omni"), TOKEN)
            assert (await client.recv())["type"] == "session.created"
            await client.send({"type": "session.update", "event_id": "e1",
                               "session": {"turn_detection": None}})
            updated = await client.until("session.updated")
            pcm = speech_pcm(16000, 0.05, 0.05)
            for i in range(0, len(pcm), 3200):
                await client.send({"type": "input_audio_buffer.append", "event_id": "a",
                                   "audio": base64.b64encode(pcm[i:i + 3200]).decode()})
            await client.send({"type": "input_audio_buffer.commit", "event_id": "c"})
            await client.until("input_audio_buffer.committed")
            await client.send({"type": "response.create", "event_id": "r"})
            done = await client.until("response.done")
            whole = client.audio("response.audio.delta")
            await client.send({"type": "response.create", "event_id": "r2"})
            await client.until("response.audio.delta")
            await client.send({"type": "response.cancel", "event_id": "x"})
            cancelled = await client.until("response.done")
            await client.close()
            return updated, done, whole, cancelled

    updated, done, whole, cancelled = run(go())
    assert updated["session"]["turn_detection"] is None
    assert done["response"]["status"] == "completed"
    assert np.array_equal(np.frombuffer(whole, "<i2"), reply_at(24000))
    assert cancelled["response"]["status"] == "cancelled"


def test_qwen_server_vad_default():
    async def go():
        async with FakeCloud(token=TOKEN, think_s=0, burst=True) as cloud:
            client = await ScriptClient.connect(cloud.url(QWEN_PATH), TOKEN)
            await client.until("session.created")
            pcm = speech_pcm(16000, 0.3, 1.0)
            for i in range(0, len(pcm), 640):
                await client.send({"type": "input_audio_buffer.append", "event_id": "a",
                                   "audio": base64.b64encode(pcm[i:i + 640]).decode()})
            await client.until("response.done")
            await client.close()
            return client.types()

    types = run(go())
    assert types.index("input_audio_buffer.speech_started") < types.index(
        "input_audio_buffer.speech_stopped") < types.index("input_audio_buffer.committed") < \
        types.index("response.created")


def test_standalone_command_serves_on_the_given_host():
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.cloud.fake_cloud", "--host", "127.0.0.1", "--port", "0",
         "--burst", "--token", "pat_CLI", "--verbose"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "fake cloud listening" in line, line
        port = int(line.split("ws://127.0.0.1:")[1].split("/")[0])

        async def go():
            client = await ScriptClient.connect(
                "ws://127.0.0.1:%d/v1/chat?bot_id=1" % port, "pat_CLI")
            await client.until("chat.created")
            await client.close()

        run(go())
        assert proc.stdout.readline().split()[1:] == ["/v1/chat", "->", "chat.created"]
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
