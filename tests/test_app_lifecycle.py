"""A reply's lifecycle through the real app, against the fake cloud (issue 16).

Each test runs one simulated session on virtual time (tools/sim/harness.py run_simulation) and
judges what the device sent, the states it went through, what it logged and what reached the
speaker pins:
- a mode switch keeps one session: a full turn after it, an interrupted reply whose late audio
  stays silent, a reconnect that resumes the conversation;
- free talk -> push-to-talk turns server VAD off (an explicit client_interrupt);
- a server-side interruption (VAD, or a canceled event with no data) silences the reply;
- a refused chat.update is one line naming the field, not a reconnect loop;
- error lines carry Coze's logid; config keys and the voice tool reach chat.update.
"""

import numpy as np
import pytest

from tools.sim.harness import SimOptions, run_simulation
from tools.sim.record_sessions import mic_clip, question, question2, reply_wav

# What can still be heard after the app clears the player: the TX DMA (two buffers of 256
# frames, boards.tx_ibuf) and one 64-frame player chunk (lib/audio/player.py).
BARGE_IN_FRAMES = 2 * 256 + 64
VOICE = "7426720361733046281"  # the fake cloud's default voice


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clips")
    return {
        # push-to-talk -> free talk by a silent 3 s hold (1.0-4.4 s), then three voice turns
        "switch": mic_clip(str(tmp / "switch.wav"), 20.0, (5.0, question()),
                           (9.0, question()), (15.0, question2())),
        # free talk -> push-to-talk by a silent hold, then a question held on the button
        "to_ptt": mic_clip(str(tmp / "to_ptt.wav"), 8.0, (5.1, question())),
        "voice": mic_clip(str(tmp / "voice.wav"), 7.0, (0.6, question()), (3.0, question2())),
        "ptt": mic_clip(str(tmp / "ptt.wav"), 2.5, (0.5, question())),
        # one question on the button, then (in free talk after the tool's switch) one spoken
        "tool_free": mic_clip(str(tmp / "tool_free.wav"), 9.0, (0.5, question()),
                              (5.5, question2())),
        "reply": reply_wav(str(tmp / "reply.wav")),
    }


def simulate(**kw):
    kw.setdefault("echo", None)
    kw.setdefault("virtual_time", True)
    return run_simulation(SimOptions(**kw), timeout=120)


def states(result):
    return [s for _, s in result.states()]


def updates(conn):
    return [r["up"]["data"] for r in conn.session.records
            if "up" in r and r["up"]["event_type"] == "chat.update"]


def downs(conn, etype):
    return [r["down"] for r in conn.session.records
            if "down" in r and r["down"]["event_type"] == etype]


def heard_after(result, t):
    """Samples the pins still played after the app's first player clear at or after t."""
    cleared = [x for x in result.events("player_cleared") if x >= t]
    assert cleared, "the player was never cleared after %.3f s" % t
    samples, rate = result.speaker
    i = int(round((cleared[0] - result.speaker_t0) * rate))
    return samples[i:i + rate // 2]


def loud_span(window):
    loud = np.flatnonzero(window)
    return int(loud[-1]) + 1 if len(loud) else 0


def log_lines(result, text):
    return [line for line in result.log if text in line]


def test_a_mode_switch_keeps_one_session_through_turns_interrupts_and_a_reconnect(clips):
    # Push-to-talk; a silent hold switches to free talk. Then, on the same connection: the
    # first answer is interrupted by the button while the cloud still has frames of it on the
    # wire; the second plays whole; the cloud closes the idle link after it; the third question
    # goes over the new connection, which must resume the conversation.
    r = simulate(mic=clips["switch"], presses=[(1.0, 4.4), (7.4, 7.55)], duration=20.0,
                 inject=["close:1000@done"],
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1, "late_frames": 5})
    first, second = r.cloud.connections[:2]
    assert len(r.cloud.connections) == 2
    modes = [(u.get("turn_detection") or {}).get("type") for u in updates(first)]
    assert modes == ["client_interrupt", "server_vad"]
    assert log_lines(r, "mode is now free")
    # The interrupted reply: cancel sent, late frames arrived, and none of them was heard.
    press = r.events("button_press")[1]
    assert first.received("conversation.chat.cancel")
    log = [e["type"] for e in first.log if e["type"] != "input_audio_buffer.append"]
    cancel_at = log.index("conversation.chat.cancel")
    late = log[cancel_at:log.index("conversation.chat.canceled")]
    assert late.count("conversation.audio.delta") == 5
    assert loud_span(heard_after(r, press)) <= BARGE_IN_FRAMES
    # Each completed chat ended the turn once, at chat.completed (not early at audio.completed).
    completed = sum(len(downs(c, "conversation.chat.completed")) for c in (first, second))
    assert completed == 2
    assert len(log_lines(r, " on TURN_DONE")) == completed
    assert states(r).count("SPEAKING") == 3
    # The reconnect resumed the conversation of the first connection.
    conversation = downs(first, "conversation.chat.created")[0]["data"]["conversation_id"]
    assert updates(second)[0]["chat_config"]["conversation_id"] == conversation
    assert downs(second, "conversation.chat.created")[0]["data"]["conversation_id"] == \
        conversation
    assert updates(second)[0]["turn_detection"]["type"] == "server_vad"  # still free talk
    assert r.crashed is None and states(r)[-1] == "LISTENING"


def test_a_mode_switch_by_the_tool_goes_through_the_live_session(clips):
    # The bot calls set_mode during its answer; once the answer is over the device switches
    # with a chat.update on the same session, and the next (spoken) turn ends once, at
    # chat.completed.
    r = simulate(mic=clips["tool_free"], presses=[(0.45, 1.8)], duration=9.0,
                 tool_call=("set_mode", {"mode": "free"}),
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1})
    conn = r.cloud.connections[0]
    assert [u["turn_detection"]["type"] for u in updates(conn)] == [
        "client_interrupt", "server_vad"]
    completed = downs(conn, "conversation.chat.completed")
    assert len(completed) == 2 and len(log_lines(r, " on TURN_DONE")) == 2
    assert states(r).count("SPEAKING") == 2 and states(r)[-1] == "LISTENING"


def test_free_talk_to_push_to_talk_turns_server_vad_off(clips):
    # Left out, turn_detection would stay server_vad on the cloud (the seed's update rule): the
    # cloud would ignore input_audio_buffer.complete and never answer the question.
    r = simulate(mode="free", mic=clips["to_ptt"], presses=[(1.0, 4.4), (5.0, 6.6)],
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1})
    conn = r.cloud.connections[0]
    assert [u["turn_detection"] for u in updates(conn)] == [
        {"type": "server_vad", "prefix_padding_ms": 600, "silence_duration_ms": 500},
        {"type": "client_interrupt"}]
    assert conn.received("input_audio_buffer.complete")
    assert len(downs(conn, "conversation.chat.completed")) == 1
    seen = states(r)
    assert seen[-3:] == ["THINKING", "SPEAKING", "READY"] and log_lines(r, "mode is now ptt")


def test_a_voice_barge_in_silences_audio_still_on_the_wire(clips):
    # The cloud's VAD interrupts its own reply; frames it had sent before it noticed arrive
    # after speech_started. They belong to the interrupted reply: none may be heard.
    r = simulate(mode="free", mic_gate=False, mic=clips["voice"], duration=6.4,
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1, "late_frames": 5})
    started = r.events("speech_started")
    assert len(started) == 2
    conn = r.cloud.connections[0]
    log = [e["type"] for e in conn.log if e["type"] != "input_audio_buffer.append"]
    second = [i for i, t in enumerate(log) if t == "input_audio_buffer.speech_started"][1]
    late = log[second:log.index("conversation.chat.canceled")]
    assert late.count("conversation.audio.delta") == 5
    assert loud_span(heard_after(r, started[1])) <= BARGE_IN_FRAMES
    assert states(r).count("SPEAKING") == 2


@pytest.mark.parametrize("bare", [True, False])
def test_a_canceled_event_without_data_stops_playback(clips, bare):
    # The @coze/api types define conversation.chat.canceled with no data: it still means "stop
    # playback and clear the player" (the hardware guide).
    inject = "cancel:bare@audio:6" if bare else "cancel@audio:6"
    r = simulate(mic=clips["ptt"], presses=[(0.45, 1.8)], inject=[inject], duration=5.0,
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1, "late_frames": 2})
    assert not log_lines(r, "data.code")
    canceled = [t for t, n, d in r.trace if n == "state" and d == "READY"][-1]
    assert states(r)[-2:] == ["SPEAKING", "READY"]
    assert loud_span(heard_after(r, canceled - 0.1)) <= BARGE_IN_FRAMES


def test_a_refused_chat_update_is_one_line_naming_the_field_not_a_reconnect_loop():
    r = simulate(mic=None, duration=40.0, extra_config={"voice_id": "7400000000000000001"},
                 cloud_options={"voices": [VOICE]})
    seen = states(r)
    assert seen == ["WIFI", "CONNECTING", "ERROR"], seen
    assert len(r.cloud.connections) == 1
    errors = [line for line in r.log if " E " in line]
    assert len(errors) == 1, errors
    line = errors[0]
    assert "voice_id" in line and "config.json" in line
    assert "logid %s" % r.cloud.connections[0].ids.logid in line


def test_every_error_line_carries_the_coze_logid(clips):
    r = simulate(mic=clips["ptt"], presses=[(0.45, 1.8)], inject=["error:5000@turn"],
                 duration=4.0)
    logid = r.cloud.connections[0].ids.logid
    errors = [line for line in r.log if " E " in line]
    assert errors and all("logid %s" % logid in line for line in errors), errors
    assert states(r)[-1] == "READY"


def test_config_keys_reach_chat_update():
    r = simulate(mic=None, duration=2.0, mode="free", extra_config={
        "user_id": "kitchen-1", "hot_words": ["Coze", "ESP32"], "user_language": "en",
        "prefix_padding_ms": 300, "silence_duration_ms": 800})
    (update,) = updates(r.cloud.connections[0])
    assert update["chat_config"]["user_id"] == "kitchen-1"
    assert update["asr_config"] == {"hot_words": ["Coze", "ESP32"], "user_language": "en"}
    assert update["turn_detection"] == {"type": "server_vad", "prefix_padding_ms": 300,
                                        "silence_duration_ms": 800}


def test_the_voice_tool_changes_voice_and_speech_rate_through_chat_update(clips):
    # The bot calls set_voice during its answer; the device applies it once the answer is over,
    # with a chat.update on the live session, and keeps it for the next turn.
    new_voice = "7426720361733046282"
    r = simulate(mic=clips["ptt"], presses=[(0.45, 1.8), (4.5, 5.8)], duration=9.0,
                 tool_call=("set_voice", {"voice_id": new_voice, "speech_rate": 20}),
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1,
                                "voices": [VOICE, new_voice]})
    conn = r.cloud.connections[0]
    sent = updates(conn)
    assert len(sent) == 2
    assert sent[1]["output_audio"]["voice_id"] == new_voice
    assert sent[1]["output_audio"]["speech_rate"] == 20
    assert sent[1]["output_audio"]["pcm_config"]["sample_rate"] == 16000  # the whole section
    assert sent[1]["turn_detection"] == {"type": "client_interrupt"}
    assert conn.config["output_audio"]["voice_id"] == new_voice
    assert len(downs(conn, "conversation.chat.completed")) == 2
    assert states(r)[-1] == "READY" and not [line for line in r.log if " E " in line]


def test_a_refused_voice_from_the_tool_is_undone_in_one_line(clips):
    # A refused update changes nothing on the cloud (the seed); the device takes its own copy
    # back too, says so in one line, and the conversation goes on.
    bad = "7400000000000000009"
    r = simulate(mic=clips["ptt"], presses=[(0.45, 1.8), (4.5, 5.8)], duration=9.0,
                 tool_call=("set_voice", {"voice_id": bad}),
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1,
                                "voices": [VOICE]})
    conn = r.cloud.connections[0]
    sent = updates(conn)
    assert "voice_id" not in sent[0]["output_audio"]
    assert sent[1]["output_audio"]["voice_id"] == bad
    refused = [line for line in log_lines(r, bad) if "refused" in line]
    assert refused and all("voice_id" in line and "logid" in line for line in refused)
    assert len(downs(conn, "conversation.chat.completed")) == 2
    assert len(r.cloud.connections) == 1 and states(r)[-1] == "READY"
    assert "ERROR" not in states(r)
