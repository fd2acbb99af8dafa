"""Qwen-Omni end to end on the default config, under both runtimes, judged at the speaker pins.

The fake cloud answers in pcm24 (24 kHz, the only output format the service takes) whatever the
device's out_rate says; the answer must play at its own rate, sample for sample. Push-to-talk:
two questions, the second pressed while the first answer still drains on the device (the
device has read response.done: nothing runs, so no response.cancel may go out, and the question
must not be lost); and pressed earlier, while response.done is still on its way (the device
cancels what it believes runs; the cloud answers that cancel with an error, which must not end
the user's turn). Free talk: two spoken questions, each answer whole.
"""

import numpy as np
import pytest

from tools.sim.harness import SimOptions, run_simulation
from tools.sim.record_sessions import ended_cleanly, mic_clip, question, question2, reply_wav
from tools.sim.replay_check import played_whole

QWEN_RATE = 24000
BARGE_IN_FRAMES = 2 * 256 + 64  # TX DMA + one player chunk (see tests/test_sim_e2e.py)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qwen")
    return {
        # The first answer starts at ~1.9 s and plays 1.5 s; the device reads its end (the
        # last delta waits for room in the 300 ms ring) at ~3.15 s: 3.27 s is in the drain.
        "drain": mic_clip(str(tmp / "drain.wav"), 5.0, (0.5, question()), (3.3, question2())),
        # 2.9 s: the cloud sent response.done at ~2.65 s, the device has not read it yet.
        "cross": mic_clip(str(tmp / "cross.wav"), 5.0, (0.5, question()), (2.95, question2())),
        "voice": mic_clip(str(tmp / "voice.wav"), 9.0, (0.6, question()), (4.6, question2())),
        "reply": reply_wav(str(tmp / "reply.wav")),
    }


@pytest.fixture(params=["cpython", "micropython"])
def runtime(request):
    return request.param


def simulate(**kw):
    kw.setdefault("echo", None)
    kw.setdefault("cloud", "qwen")
    kw.setdefault("virtual_time", kw.get("runtime", "cpython") == "cpython")
    result = run_simulation(SimOptions(**kw), timeout=90)
    assert ended_cleanly(result) is None, result.log[-8:]
    return result


def _index(result, t):
    return int(round((t - result.speaker_t0) * result.speaker[1]))


def assert_complete(speaker, want, result, what):
    reason = played_whole(speaker, want, result, what)
    assert reason is None, reason


def check_two_answers(r, press):
    """The first answer sample for sample up to the press, the second one whole, at 24 kHz."""
    samples, rate = r.speaker
    assert rate == QWEN_RATE  # the bus runs at the answer's rate: nothing resampled
    want = r.cloud.reply_audio(QWEN_RATE)
    cleared = [t for t in r.events("player_cleared") if t >= press][0]
    cut = _index(r, cleared) + BARGE_IN_FRAMES
    first = np.trim_zeros(samples[:cut], "b")
    start = int(np.flatnonzero(first)[0]) - int(np.flatnonzero(want)[0])
    heard = first[start:]
    assert len(want) // 2 < len(heard) < len(want)
    sound, said = heard[heard != 0], want[want != 0]
    assert np.array_equal(sound, said[:len(sound)])
    assert_complete(samples[cut:], want, r, "the second answer")


def test_push_to_talk_plays_both_answers_at_24khz_and_cancels_nothing_that_is_over(clips,
                                                                                   runtime):
    r = simulate(runtime=runtime, mic=clips["drain"], presses=[(0.45, 1.8), (3.27, 4.4)],
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1})
    conn = r.cloud.connections[0]
    assert conn.config["output_audio_format"] == "pcm24"
    # Had the device read the end of the first response before the second press? On virtual
    # time it had (the press is timed into the drain); in real time a loaded host may read it
    # late, and then a cancel is right. Either way: no cancel once the device knows it is over.
    lines = [line for line in r.log if " state " in line]
    done = [i for i, line in enumerate(lines) if line.endswith("on TURN_DONE")]
    pressed = [i for i, line in enumerate(lines) if line.endswith("LISTENING on PRESS")]
    drained = done[0] < pressed[1]
    assert drained or runtime != "cpython", lines
    if drained:
        assert conn.received("response.cancel") == [] and not conn.sent("error")
    assert not [line for line in r.log if " E " in line]
    assert len(conn.received("response.create")) == 2 == len(conn.sent("response.done"))
    speaking = [t for t, s in r.states() if s == "SPEAKING"]
    press = r.events("button_press")[1]
    assert len(speaking) == 2 and speaking[0] < press < speaking[1]
    check_two_answers(r, press)
    assert [s for _, s in r.states()][-1] == "READY"


def test_a_cancel_that_crossed_the_end_of_the_response_keeps_the_question(clips, runtime):
    r = simulate(runtime=runtime, mic=clips["cross"], presses=[(0.45, 1.8), (2.9, 4.1)],
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1})
    conn = r.cloud.connections[0]
    press = r.events("button_press")[1]
    first_done = r.session_offset + conn.sent("response.done")[0]["t"]
    assert first_done < press  # the cloud had finished; the device had not read it yet
    assert len(conn.received("response.cancel")) == 1 and len(conn.sent("error")) == 1
    assert not [line for line in r.log if " E " in line]  # the error was about the cancel
    assert len(conn.received("response.create")) == 2
    check_two_answers(r, press)
    assert [s for _, s in r.states()][-1] == "READY"


def test_free_talk_plays_each_answer_whole_at_24khz(clips, runtime):
    # MicroPython runs in real time: on a loaded host the second answer can end well after
    # 8.5 s, so that runtime gets room (the run ends at `duration` either way).
    r = simulate(runtime=runtime, mode="free", mic=clips["voice"],
                 duration=8.5 if runtime == "cpython" else 14.0,
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1})
    conn = r.cloud.connections[0]
    assert len(conn.sent("response.done")) == 2
    samples, rate = r.speaker
    assert rate == QWEN_RATE
    want = r.cloud.reply_audio(QWEN_RATE)
    speaking = [t for t, s in r.states() if s == "SPEAKING"]
    assert len(speaking) == 2
    # The answers are split in the second question's silence (over a second long), not at a
    # time: in real time a busy host plays the first answer's end later than its state says.
    sound = np.flatnonzero(samples)
    longest = int(np.argmax(np.diff(sound)))
    assert sound[longest + 1] - sound[longest] > rate  # the silence between the two answers
    split = (int(sound[longest]) + int(sound[longest + 1])) // 2
    assert _index(r, speaking[0]) < split < _index(r, speaking[1]) + rate
    assert_complete(samples[:split], want, r, "the first answer")
    assert_complete(samples[split:], want, r, "the second answer")
    assert conn.received("response.cancel") == []


def test_a_refused_session_update_is_one_line_naming_the_field():
    # The cloud names the field in error.param ("session.voice"); the device says which
    # config.json key that is, once, and does not reconnect with the same config.
    r = run_simulation(SimOptions(cloud="qwen", echo=None, mic=None, duration=30.0,
                                  virtual_time=True, extra_config={"voice_id": "Nobody"},
                                  cloud_options={"voices": ["Cherry", "Ethan"]}), timeout=90)
    assert [s for _, s in r.states()] == ["WIFI", "CONNECTING", "ERROR"]
    errors = [line for line in r.log if " E " in line]
    assert len(errors) == 1 and "voice_id" in errors[0] and "config.json" in errors[0], errors
    assert len(r.cloud.connections) == 1
