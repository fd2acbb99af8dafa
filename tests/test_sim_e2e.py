"""End to end: the real app in the simulator against the fake cloud, judged at the speaker pins.

- the reply audio comes out complete and in order (sample-exact at 24 kHz on a 24 kHz speaker;
  through the device's own resampler / G.711 decoder otherwise);
- a barge-in (button, voice) silences the speaker: after the app clears the player, no more than
  the TX DMA and one chunk (36 ms at 16 kHz) leave the pins (the 40 ms press-to-silence figure
  itself is real time, and `make bench` checks it);
- `python -m tools.sim` exits 0 and writes its four outputs, and exits 1 with a one-line
  reason when the cloud refuses the token.
Each simulation runs in real time: short mic clips, a 1.5 s reply where the test allows it.
Every scenario runs under both runtimes: CPython (the app in this process) and MicroPython (the
deployed .mpy tree in the unix port, tools/sim/mpruntime.py), judged the same way.
"""

import asyncio
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tools.cloud import audio
from tools.sim.harness import ROOT, SimOptions, run_simulation
from tools.sim.metrics import latencies
from tools.sim.record_sessions import ended_cleanly, mic_clip, question, question2, reply_wav
from tools.sim.replay_check import compare_played, played_whole

DEFAULT_SPEAKER_RATE = 16000  # esp32s3_inmp441's MAX98357A bus runs at the downlink rate, >= 16k


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clips")
    return {
        "ptt": mic_clip(str(tmp / "ptt.wav"), 2.5, (0.5, question())),
        "twice": mic_clip(str(tmp / "twice.wav"), 4.5, (0.5, question()), (2.65, question2())),
        "voice": mic_clip(str(tmp / "voice.wav"), 7.0, (0.6, question()), (3.0, question2())),
        "reply": reply_wav(str(tmp / "reply.wav")),
    }


@pytest.fixture(params=["cpython", "micropython"])
def runtime(request):
    return request.param


def simulate(**kw):
    # CPython runs on virtual time (the event loop's clock, compacted: the same samples at the
    # same times however busy the host is); the MicroPython device is its own process and runs
    # in real time, so its checks allow for what a busy host does (gaps it names as the host's).
    kw.setdefault("echo", None)
    kw.setdefault("virtual_time", kw.get("runtime", "cpython") == "cpython")
    result = run_simulation(SimOptions(**kw), timeout=60)
    assert ended_cleanly(result) is None, result.log[-8:]
    return result


def device_resample(samples, src_rate, dst_rate):
    """What the player's resampler (lib/audio/pcm.py, the device code) makes of `samples`."""
    from audio.pcm import Resampler

    if src_rate == dst_rate:
        return np.asarray(samples, dtype=np.int16)
    r = Resampler(src_rate, dst_rate)
    src = np.asarray(samples, dtype="<i2").tobytes()
    dst = bytearray(2 * r.max_out(len(samples)))
    n = r.process(src, len(samples), dst)
    return np.frombuffer(bytes(dst[:2 * n]), dtype="<i2")


def assert_complete(speaker, want, result, what="the reply"):
    # Sample for sample; silence inside only where the host starved the device (replay_check).
    reason = played_whole(speaker, want, result, what)
    assert reason is None, reason


def test_reply_comes_out_complete_and_in_order_at_the_speaker_rate(clips, runtime):
    # out_rate 24000 on a 24 kHz speaker at volume 70 (unity): the pins carry the cloud's
    # samples unchanged. The full 3.6 s reply spans several limit_config pacing windows.
    r = simulate(runtime=runtime, mic=clips["ptt"], presses=[(0.45, 1.8)], out_rate=24000,
                 cloud_options={"think_s": 0.1})
    samples, rate = r.speaker
    assert rate == 24000  # the bus follows the downlink rate: no resampling on the way
    want = r.cloud.reply_audio(24000)
    assert len(want) / rate > 3.5
    assert_complete(samples, want, r)
    if runtime == "cpython":
        # On virtual time the ring never runs dry. In real time a host stall of ~120 ms near
        # the first pacing window's end empties it: that silence is the gap report's (above,
        # the content around it is still checked sample for sample).
        assert r.player_stats["underruns"] == 0


@pytest.mark.parametrize("codec,out_rate", [("pcm", 16000), ("g711u", 8000), ("g711a", 8000)])
def test_reply_comes_out_complete_and_in_order_through_the_player(clips, runtime, codec, out_rate):
    r = simulate(runtime=runtime, mic=clips["ptt"], presses=[(0.45, 1.8)], codec=codec,
                 out_rate=out_rate,
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1})
    sent = audio.decode(audio.encode(r.cloud.reply_audio(out_rate), codec), codec)
    assert r.speaker[1] == max(out_rate, 16000)  # 8 kHz is played on a 16 kHz bus (barge-in bound)
    assert_complete(r.speaker[0], device_resample(sent, out_rate, r.speaker[1]), r)


def _index(result, t):
    return int(round((t - result.speaker_t0) * result.speaker[1]))


def _heard_after_clear(result, t):
    """Samples the speaker still played after the app cleared the player (first clear >= t).

    Counted in samples from the app's own action, not in milliseconds from the press: how soon
    a loaded host gets to the press is a real-time figure (`make bench` has it); what leaves
    the pins after the clear is the design's bound, whatever the host's speed."""
    cleared = [x for x in result.events("player_cleared") if x >= t]
    assert cleared, "the player was never cleared after %.3f s" % t
    samples, rate = result.speaker
    i = _index(result, cleared[0])
    loud = np.flatnonzero(samples[i:i + rate // 2])
    return cleared[0], (int(loud[-1]) + 1 if len(loud) else 0)


# What can still be heard after a clear: the TX DMA (boards.tx_ibuf: two buffers of 256 frames)
# and one player chunk already handed to the bus writer (lib/audio/player.py).
BARGE_IN_FRAMES = 2 * 256 + 64


def test_barge_in_by_button_silences_the_speaker_and_the_next_answer_plays(clips, runtime):
    r = simulate(runtime=runtime, mic=clips["twice"], presses=[(0.45, 1.8), (2.6, 3.5)],
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1})
    press = r.events("button_press")[1]
    speaking = [t for t, s in r.states() if s == "SPEAKING"]
    assert speaking[0] < press < speaking[1], "the second press did not come during the answer"
    assert len(latencies(r)["bargein_to_silence_ms"]) == 1  # its bound is checked by make bench
    cleared, heard = _heard_after_clear(r, press)
    assert heard <= BARGE_IN_FRAMES, "%d samples after the clear" % heard
    assert r.cloud.connections[0].received("conversation.chat.cancel")
    assert r.cloud.connections[0].sent("conversation.chat.canceled")
    samples, rate = r.speaker
    cut = _index(r, cleared) + BARGE_IN_FRAMES
    want = device_resample(r.cloud.reply_audio(16000), 16000, rate)
    # Before the press: the start of the answer, in order; after it: the whole second answer.
    first = samples[:cut]
    start = int(np.flatnonzero(first)[0]) - int(np.flatnonzero(want)[0])
    heard = np.trim_zeros(first[start:], "b")
    assert 0 < len(heard) < len(want)
    sound = heard[heard != 0]  # (silence a stalled host inserted is not the app's sound)
    said = want[want != 0]
    assert np.array_equal(sound, said[:len(sound)])
    assert_complete(samples[cut:], want, r, "the second answer")


def test_barge_in_by_voice_silences_the_speaker(clips, runtime):
    # Free talk with the mic not gated: the user speaks again while the bot answers; the fake
    # cloud's VAD hears it, sends speech_started and cancels; the app stops the speaker.
    r = simulate(runtime=runtime, mode="free", mic_gate=False, mic=clips["voice"], duration=6.4,
                 cloud_options={"reply_wav": clips["reply"], "think_s": 0.1})
    started = r.events("speech_started")
    assert len(started) == 2
    assert len(latencies(r)["bargein_to_silence_ms"]) == 1  # its bound is checked by make bench
    _, heard = _heard_after_clear(r, started[1])
    assert heard <= BARGE_IN_FRAMES, "%d samples after the clear" % heard
    assert r.cloud.connections[0].sent("conversation.chat.canceled")
    assert sum(1 for _, s in r.states() if s == "SPEAKING") == 2  # and the next answer played


def test_the_app_is_ready_again_after_the_greeting(clips, runtime):
    # A greeting (input_text.generate_audio) ends with conversation.audio.completed alone, as in
    # the coze-go capture: no chat.completed follows.
    # No duration: the run ends once the app is back in READY after speaking (bounded).
    r = simulate(runtime=runtime, greeting="Hi there.", mic=None,
                 cloud_options={"reply_wav": clips["reply"]})
    states = [s for _, s in r.states()]
    assert states.count("SPEAKING") == 1 and states[-1] == "READY", states


# -- the command ----------------------------------------------------------------------------


def _cli(*args, timeout=60):
    env = dict(os.environ)
    env.pop("COZE_TOKEN", None)
    env.pop("COZE_BOT_ID", None)
    return subprocess.run([sys.executable, "-m", "tools.sim", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_command_runs_a_session_and_writes_its_four_outputs(clips, tmp_path):
    from tools.session.format import read_session

    out = tmp_path / "fresh" / "out"  # does not exist yet, as out/ on a fresh clone
    # --allow-gaps: real time, where a loaded host may insert silence; the report counts it
    # (tests/test_sim_gaps.py) and make bench measures the app's share.
    p = _cli("--mic", clips["ptt"], "--press", "0.45", "--release", "1.8", "--allow-gaps",
             "--out-dir", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "state SPEAKING" in p.stdout and p.stdout.rstrip().endswith("sim: ok")
    samples, rate = audio.read_wav(str(out / "sim-speaker.wav"))
    assert rate == DEFAULT_SPEAKER_RATE and (samples != 0).any()
    session = read_session(str(out / "sim-session.jsonl"))
    assert "conversation.chat.completed" in session.event_types("down")
    with open(out / "sim-report.json") as f:
        rep = json.load(f)
    assert rep["ok"] is True and rep["turns"] == 1 and rep["reason"] is None
    assert isinstance(rep["gaps"], list)
    with open(out / "sim-timeline.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_command_exits_1_with_one_line_when_the_token_is_refused(tmp_path, runtime):
    from tools.cloud.fake_cloud import FakeCloud

    bad = "wrong-token-4fd0a9"

    async def run():
        async with FakeCloud(token="the-right-token") as cloud:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tools.sim", "--runtime", runtime,
                "--url", "ws://127.0.0.1:%d" % cloud.port,
                "--token", bad, "--bot-id", "7400000000000000000", "--mode", "free",
                # An upper bound: the run ends once the app has sat in ERROR for 2 s with no
                # press left (tools/sim/harness.py ERROR_HOLD_S), however slow the host.
                "--duration", "40", "--out-dir", str(tmp_path), cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode, out.decode(), err.decode()

    code, out, err = asyncio.run(run())
    assert code == 1, out + err
    failed = [line for line in out.splitlines() if line.startswith("sim: FAILED")]
    assert len(failed) == 1 and failed == [out.rstrip().splitlines()[-1]]
    assert "ERROR" in failed[0] and "401" in failed[0], failed[0]
    assert bad not in out + err
    # It ended on the app's state, not at --duration 40.
    with open(tmp_path / "sim-report.json") as f:
        rep = json.load(f)
    t_error = rep["states"][-1][0]
    assert rep["states"][-1][1] == "ERROR"
    samples, rate = audio.read_wav(str(tmp_path / "sim-speaker.wav"))
    assert len(samples) / rate < t_error + 10.0 < 40.0


def test_compare_played_finds_what_is_missing_reordered_or_extra():
    rng = np.random.default_rng(5)
    want = rng.integers(-3000, 3000, 4800).astype(np.int16)
    lead = np.zeros(1000, np.int16)

    def cmp(*parts):
        return compare_played(np.concatenate([lead, *parts, lead]), want)

    assert cmp(want) == {"reason": None, "gaps": [], "start": 1000}
    gap = cmp(want[:2000], np.zeros(300, np.int16), want[2000:])
    assert gap["reason"] is None and gap["gaps"] == [(2000, 300)]
    assert "differs" in cmp(want[2400:], want[:2400])["reason"]  # out of order
    assert "differs" in cmp(want[:2000], want[2100:])["reason"]  # a piece missing
    assert "early" in compare_played(np.concatenate([lead, want[:4000]]), want)["reason"]
    assert "after" in cmp(want, lead, want[:10])["reason"]  # played again
    assert "silent" in compare_played(np.zeros(9000, np.int16), want)["reason"]


def test_virtual_time_is_refused_where_the_clock_is_not_the_simulators():
    p = _cli("--virtual-time", "--runtime", "micropython")
    assert p.returncode != 0
    assert p.stderr.strip().splitlines() == [
        "sim: --virtual-time needs --runtime cpython and the built-in fake cloud (no --url, "
        "no --setup)"]
