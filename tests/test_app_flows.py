"""The device app's flows end to end: the real app in the simulator against the fake cloud.

Each test runs one short session over loopback sockets on virtual time (tools/sim/harness.py
run_simulation: the event loop's clock, compacted by looptime) and asserts what the device sent
(the recorder's session), the states it went through and what it logged. Latency targets are
measured by `make bench`, not here.
"""


from tools.cloud.fake_cloud import FakeCloud
from tools.sim.harness import SimOptions, Simulation, run_on_loop, run_simulation


def run(**kw):
    # Virtual time: these flows need the order and the spacing of events, not the wall clock,
    # so each runs on a time-compacting loop (seconds of session in milliseconds, and the same
    # outcome however busy the host is).
    kw.setdefault("echo", None)
    kw.setdefault("mic", None)
    kw.setdefault("virtual_time", True)
    return run_simulation(SimOptions(**kw), timeout=120)


def up_types(result):
    return [r["up"]["event_type"] for r in result.session.records if "up" in r]


def states(result):
    return [s for _, s in result.states()]


def connections(result):
    return [s for s in states(result) if s == "CONNECTING"]


def test_short_press_is_ignored_and_clears_the_input():
    result = run(presses=[(1.0, 1.1)], duration=2.5)
    sent = up_types(result)
    assert "input_audio_buffer.clear" in sent
    assert "input_audio_buffer.complete" not in sent
    assert states(result)[-1] == "READY"
    assert result.crashed is None


def test_double_press_starts_a_new_conversation():
    result = run(presses=[(1.0, 1.08), (1.25, 1.33)], duration=2.5)
    assert "conversation.clear" in up_types(result)
    assert any("new conversation" in line for line in result.log)
    assert states(result)[-1] == "READY"


def test_silent_long_hold_switches_to_free_talk():
    # The mic hears nothing, so a 3.4 s hold is a mode switch, not a question.
    result = run(presses=[(1.0, 4.4)], duration=5.0)
    updates = [r["up"] for r in result.session.records
               if "up" in r and r["up"]["event_type"] == "chat.update"]
    assert len(updates) == 2
    # push-to-talk says so: a field left out of chat.update is not reset by the server
    assert updates[0]["data"]["turn_detection"] == {"type": "client_interrupt"}
    assert updates[1]["data"]["turn_detection"]["type"] == "server_vad"
    assert any("mode is now free" in line for line in result.log)
    assert "input_audio_buffer.complete" not in up_types(result)


def test_refused_token_stops_retrying_until_a_press():
    async def session():
        cloud = await FakeCloud(token="pat_the_right_one").start()
        try:
            options = SimOptions(url="ws://127.0.0.1:%d" % cloud.port, echo=None, mic=None,
                                 token="pat_wrong_token_value", presses=[(4.0, 4.2)],
                                 duration=5.0, virtual_time=True)
            return await Simulation(options).run()
        finally:
            await cloud.stop()

    result = run_on_loop(session(), virtual_time=True, timeout=120)
    seen = states(result)
    assert seen[:3] == ["WIFI", "CONNECTING", "ERROR"]
    # No reconnect storm: one attempt at boot, the next only after the press at 4 s.
    assert seen.count("CONNECTING") == 2
    assert seen.index("CONNECTING", 2) > seen.index("ERROR")
    assert any("HTTP 401" in line and "make configure" in line for line in result.log)
    assert not any("pat_wrong_token_value" in line for line in result.log)


def test_error_4100_during_the_session_is_an_auth_stop():
    result = run(inject=["error:4100@update"], duration=4.0)
    seen = states(result)
    assert seen[-1] == "ERROR" and seen.count("CONNECTING") == 1
    assert any("error 4100" in line for line in result.log)


def test_idle_close_reconnects_lazily_and_the_held_press_still_talks():
    # The cloud closes the link right after its answer; the next press reconnects and, being
    # still held when the link is back, streams the question.
    result = run(mic=None, inject=["close:1000@done"], presses=[(1.0, 2.0), (6.5, 8.0)],
                 duration=12.0)
    seen = states(result)
    assert "IDLE" in seen
    after_idle = seen[seen.index("IDLE"):]
    assert after_idle[:4] == ["IDLE", "CONNECTING", "READY", "LISTENING"]
    assert up_types(result).count("input_audio_buffer.complete") == 2
    assert seen.count("SPEAKING") == 2 and result.crashed is None


def test_dropped_link_reconnects_and_keeps_the_conversation():
    result = run(inject=["close:1011@audio:3"], presses=[(1.0, 2.0), (7.0, 8.0)],
                 duration=12.0)
    seen = states(result)
    assert "RECONNECTING" in seen and seen.count("CONNECTING") == 2
    updates = [r["up"]["data"] for r in result.session.records
               if "up" in r and r["up"]["event_type"] == "chat.update"]
    downs = [r["down"] for r in result.session.records if "down" in r]
    conversation = next(d["data"]["conversation_id"] for d in downs
                        if d["event_type"] == "conversation.chat.created")
    assert updates[1]["chat_config"]["conversation_id"] == conversation
    assert seen[-1] == "READY" and seen.count("SPEAKING") == 2


def test_wifi_wrong_password_backs_off_and_says_what_to_fix():
    result = run(extra_config={"wifi_password": "not-the-password"}, duration=2.5)
    seen = states(result)
    assert seen and all(s == "WIFI" for s in seen)
    assert any("wrong Wi-Fi password: fix wifi_password" in line for line in result.log)
    assert any("retrying in" in line for line in result.log)


def test_codec_board_initialises_its_es8311_and_plays():
    result = run(board="esp32s3_es8311", presses=[(1.0, 2.0)])
    codec = result.machine.i2c_devices[0x18]
    assert codec.writes, "the ES8311 init sequence went over I2C"
    assert states(result)[-1] == "READY" and "SPEAKING" in states(result)
    assert (result.speaker[0] != 0).any()
