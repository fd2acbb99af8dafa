"""The echo barge-in bench's metric code (tools/bench/echo_metrics.py, bench_echo.py) on made-up
speaker output and events: no espeak-ng, no simulation."""

import numpy as np
import pytest

from tools.bench import bench_echo as B
from tools.bench import echo_metrics as M

RATE = 16000


def _speaker(*spans, total_s=10.0, pause_every_s=0.0):
    """Silence with a 300 Hz tone over each (start_s, end_s); optional 100 ms pauses inside
    (the gaps between words)."""
    out = np.zeros(int(total_s * RATE), dtype=np.int16)
    for start, end in spans:
        i, j = int(start * RATE), int(end * RATE)
        t = np.arange(j - i) / RATE
        out[i:j] = (2000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
        if pause_every_s:
            for k in np.arange(start + pause_every_s, end - 0.1, pause_every_s):
                out[int(k * RATE):int((k + 0.1) * RATE)] = 0
    return out


class _Result:
    """What evidence() reads from a SimResult."""

    def __init__(self, speaker, t0=0.0, records=(), session_offset=0.0, gaps=()):
        self.speaker = (speaker, RATE)
        self.gaps = list(gaps)
        self.speaker_t0 = t0
        self.session = type("S", (), {"records": list(records)})()
        self.session_offset = session_offset


def test_segments_merge_the_pauses_inside_an_answer_and_keep_the_timeline():
    spk = _speaker((1.0, 4.0), (5.0, 6.0), pause_every_s=0.5)
    segs = M.segments(spk, RATE, t0=0.25, min_gap_s=0.3)
    assert len(segs) == 2
    assert segs[0][0] == pytest.approx(1.25, abs=0.011)
    assert segs[0][1] == pytest.approx(4.25, abs=0.011)
    assert segs[1][0] == pytest.approx(5.25, abs=0.011)
    # A shorter min_gap splits at the word pauses.
    assert len(M.segments(spk, RATE, min_gap_s=0.05)) > 2


def test_a_silence_the_host_caused_does_not_split_an_answer():
    segs = [(1.0, 2.0), (2.5, 4.0), (5.0, 6.0)]
    assert M.join_across(segs, [(1.98, 2.52)]) == [(1.0, 4.0), (5.0, 6.0)]
    assert M.join_across(segs, [(2.2, 2.3)]) == segs  # the pause is longer than the gap


def test_longest_pause_and_sound_span_of_a_clip():
    spk = _speaker((0.5, 2.0), (2.4, 3.0), total_s=4.0)
    assert M.longest_pause_s(spk, RATE) == pytest.approx(0.4, abs=0.011)
    first, last = M.sound_span_s(spk, RATE)
    assert first == pytest.approx(0.5, abs=0.011)
    assert last == pytest.approx(3.0, abs=0.011)
    assert M.sound_span_s(np.zeros(1000, np.int16), RATE) is None


def test_an_answer_cut_short_with_the_user_silent_is_one_false_interruption():
    # Answer 3 s: played whole from 1 s; cut at 6 s (started at 5 s) with a cancel at 5.9 s.
    segs = [(1.0, 4.0), (5.0, 6.0)]
    events = M.interruptions(segs, 3.0, [5.9], user_spans=[(0.2, 0.9)], run_end_s=10.0)
    assert events == [(5.9, True)]


def test_a_cancel_and_the_stop_it_caused_are_one_interruption_at_the_cancel():
    # The device had taken 0.8 s of audio in before the cancel reached it: it played on.
    segs = [(3.5, 4.5), (5.3, 6.2)]
    events = M.interruptions(segs, 7.0, [3.7, 5.5], user_spans=[], run_end_s=12.0)
    assert events == [(3.7, True), (5.5, True)]


def test_a_cut_right_after_the_user_spoke_is_a_barge_in_not_a_false_one():
    segs = [(1.0, 2.5)]
    events = M.interruptions(segs, 3.0, [], user_spans=[(2.0, 2.3)], run_end_s=10.0)
    assert events == [(2.5, False)]


def test_the_run_ending_mid_answer_is_no_interruption():
    segs = [(1.0, 2.5)]
    assert M.interruptions(segs, 3.0, [], user_spans=[], run_end_s=2.5) == []


def test_barge_in_detected_with_its_latency_or_not():
    segs = [(1.0, 3.2), (5.0, 8.0)]
    detected, ms = M.barge_in(segs, onset_s=2.9, answer_s=3.0)
    assert detected and ms == pytest.approx(300.0)
    # Played to its natural end: the barge-in was not heard.
    assert M.barge_in(segs, onset_s=6.0, answer_s=3.0) == (False, None)
    # The bot was silent at the onset: no answer to barge into.
    assert M.barge_in(segs, onset_s=4.0, answer_s=3.0) is None
    # Already being stopped: a cancel went out before the onset, or the sound ended sooner
    # than anything the user said could have stopped it.
    assert M.barge_in(segs, onset_s=2.9, answer_s=3.0, cancels=[2.5]) is None
    assert M.barge_in(segs, onset_s=3.18, answer_s=3.0) is None
    # Silenced, but too late to be this barge-in's doing.
    assert M.barge_in([(1.0, 9.0)], onset_s=2.0, answer_s=10.0, detect_s=2.0) == (False, None)


def test_summary_counts_per_minute_recall_and_median():
    trials = [
        {"kind": "quiet", "false": 1, "bot_s": 30.0},
        {"kind": "barge", "false": 0, "bot_s": 15.0, "barge": (True, 300.0)},
        {"kind": "barge", "false": 0, "bot_s": 15.0, "barge": (True, 500.0)},
        {"kind": "barge", "false": 0, "bot_s": 0.0, "barge": (False, None)},
        {"kind": "barge", "false": 0, "bot_s": 0.0, "barge": None},
    ]
    s = M.summary(trials)
    assert s["false_per_min"] == pytest.approx(1.0)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["barge_trials"] == 3 and s["barge_skipped"] == 1
    assert s["latency_median_ms"] == pytest.approx(400.0)
    assert M.summary([])["false_per_min"] is None


def test_evidence_reads_the_speaker_and_the_sessions_cancels():
    spk = _speaker((2.0, 3.0), (4.0, 7.0))
    records = [{"t": 0.9, "down": {"event_type": "conversation.chat.canceled"}},
               {"t": 5.0, "up": {"event_type": "input_audio_buffer.append"}}]
    result = _Result(spk, t0=0.1, records=records, session_offset=0.05)
    spec = {"kind": "barge", "echo_db": -6, "min_gap_s": 0.3, "answer_s": 3.0,
            "user_spans": [(5.5, 6.0)], "onset": 5.5, "duration": 10.1}
    ev = B.evidence(result, spec)
    # The first answer was cut at 3.1 s (the cancel at 0.95 s merged with nothing near it):
    # two false interruptions; the second answer played whole around the barge-in.
    assert ev["false"] == 2
    assert ev["bot_s"] == pytest.approx(4.0, abs=0.03)
    assert ev["barge"] == (False, None)


def test_evidence_ignores_the_scripted_end_and_host_gaps():
    # Sound up to the script's end at 5 s (the record runs on), a host gap at 2.0-2.6 s.
    spk = _speaker((1.0, 2.0), (2.6, 5.0))
    result = _Result(spk, gaps=[{"t": 1.99, "ms": 620, "cause": "host"}])
    spec = {"kind": "quiet", "echo_db": -6, "min_gap_s": 0.3, "answer_s": 7.0,
            "user_spans": [], "duration": 5.0}
    assert B.evidence(result, spec)["false"] == 0
    result.gaps = [{"t": 1.99, "ms": 620, "cause": "app"}]  # the app's own silence: a stop
    assert B.evidence(result, spec)["false"] == 1


def test_levels_and_the_trial_plan(tmp_path, monkeypatch):
    monkeypatch.setattr(B, "TRIALS_DIR", str(tmp_path))
    voice = (3000 * np.sin(2 * np.pi * 200 * np.arange(RATE) / RATE)).astype(np.int16)
    assert B.level_dbfs(B.at_level(voice, RATE, -30.0), RATE) == pytest.approx(-30.0, abs=0.1)
    material = type("Material", (), {"answer_wav": "answer.wav", "answer_s": 5.0,
                                     "min_gap_s": 0.3, "question": voice,
                                     "barge_ins": [voice[:8000]]})()
    specs = B.plan(material, "off", answer_start_s=2.5, echo_dbs=(-6,), barge={-6: 3},
                   quiet=1)
    assert [s["kind"] for s in specs] == ["quiet", "barge", "barge", "barge"]
    for s in specs:
        user_db = B.BOT_DBFS - 6 + B.USER_OVER_ECHO_DB
        assert s["noise_db"] == pytest.approx(user_db - B.SNR_DB)
        assert s["delay_ms"] in B.DELAYS_MS
    barge = specs[1]
    assert barge["onset"] == pytest.approx(2.5 + B.OFFSETS_S[0], abs=0.011)
    assert barge["duration"] == pytest.approx(barge["onset"] + B.BARGE_TAIL_S)
    from tools.cloud.audio import read_wav

    mic, rate = read_wav(barge["mic"])
    i = int(barge["onset"] * rate)
    assert B.level_dbfs(mic[i:i + 8000], rate) == pytest.approx(user_db, abs=0.2)


def test_only_the_aware_rows_carry_targets_and_skips_say_why():
    stats = {db: M.summary([{"kind": "barge", "false": 0, "bot_s": 60.0,
                             "barge": (True, 250.0)}]) for db in B.ECHO_DBS}
    aware = {r["key"]: r for r in B.rows_for("aware", stats)}
    assert aware["bargein_voice_false_per_min"]["target"] == "== 0"
    assert aware["bargein_voice_recall"]["value"] == 1.0
    assert aware["bargein_voice_latency_ms"]["value"] == 250.0
    assert len(aware["bargein_voice_recall"]["table"]) == len(B.ECHO_DBS)
    gate = B.rows_for("gate", stats)
    assert [r["key"] for r in gate] == ["bargein_voice_false_per_min_gate",
                                        "bargein_voice_recall_gate",
                                        "bargein_voice_latency_ms_gate"]
    assert all(r["target"] is None for r in gate)
    skipped = B.rows_for("aware", None, skipped="no espeak-ng")
    assert all(r["value"] is None and "no espeak-ng" in r["what"] for r in skipped)


def test_echo_modes_map_onto_this_firmwares_config():
    import config

    if "echo" in config.DEFAULTS:
        assert B.echo_setup("aware") == {"mic_gate": None, "extra_config": {"echo": "aware"}}
    else:
        assert B.echo_setup("aware") is None
        assert B.echo_setup("gate") == {"mic_gate": True}
        assert B.echo_setup("off") == {"mic_gate": False}


def test_every_trial_is_written_with_its_inputs_and_evidence(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(B, "TRIALS_DIR", str(tmp_path / "trials"))
    spec = {"kind": "barge", "mode": "off", "echo_db": -6, "delay_ms": 20, "noise_db": -60.0,
            "seed": 1, "said": "Stop.", "offset_s": 0.8, "onset": 4.1, "duration": 7.1,
            "mic": "mic.wav", "user_spans": [(4.1, 4.9)]}
    res = {"false": 2, "bot_s": 3.25, "barge": (True, 210.0), "segments": [(3.3, 4.31)]}
    path = B.write_trials("cpython", [spec], [res])
    with open(path) as f:
        (entry,) = json.load(f)
    assert entry["said"] == "Stop." and entry["false"] == 2 and entry["barge"] == [True, 210.0]
    assert entry["segments"] == [[3.3, 4.31]]


def test_the_pins_lagging_the_scripted_end_is_no_interruption():
    # The next answer runs to the end of the run; its last 20 ms are still in the TX DMA when
    # the run stops (a full-bench trial at -6 dB was counted false for exactly this).
    segs = [(3.22, 6.06), (8.37, 8.80)]
    events = M.interruptions(segs, 3.0, [6.1], user_spans=[(5.82, 7.67)], run_end_s=8.82)
    assert events == [(6.1, False)]
    # 60 ms before the end is a real cut.
    assert M.interruptions([(8.37, 8.76)], 3.0, [], user_spans=[], run_end_s=8.82) == [
        (8.76, True)]
