"""The `make bench` machinery itself (tools/bench): verdicts, skipped rows, the headline-row
checks, the latency rows' bookkeeping, and the facts the pipeline benchmark mirrors."""

import asyncio
import json
import os

import numpy as np
import pytest

from tools.bench import bench_sim, make_default_session, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _row(key, value, target=None, tier="cpython"):
    return {"key": key, "value": value, "unit": "B", "target": target, "tier": tier,
            "what": "fake row for the runner's own test"}


def _main(monkeypatch, tmp_path, rows, argv=("--only", "fake")):
    monkeypatch.setattr(run, "OUT", str(tmp_path))
    monkeypatch.setattr(run, "micropython_rows", lambda only: ([], []))
    monkeypatch.setattr(run, "cpython_rows", lambda only: (list(rows), []))
    code = run.main(list(argv))
    with open(tmp_path / "bench.json") as f:
        return code, json.load(f)


def _meeting(target):
    # A value that meets the target: its own limit ("<= N", ">= N" and "== N" all take N).
    return 0 if target is None else float(target.partition(" ")[2])


def _headline(**override):
    rows = [_row(key, _meeting(target), target) for key, target in run.required()]
    for row in rows:
        if row["key"] in override:
            row["value"] = override[row["key"]]
    return rows


def test_meets():
    assert run.meets(0, "== 0") and not run.meets(1, "== 0")
    assert run.meets(2048, "<= 2048") and not run.meets(2049, "<= 2048")
    assert run.meets(0.95, ">= 0.95") and not run.meets(0.94, ">= 0.95")
    assert run.meets(123, None) and run.meets(None, "<= 1")


def test_all_met_exits_0_and_writes_every_key(monkeypatch, tmp_path, capsys):
    code, data = _main(monkeypatch, tmp_path, [_row("a", 0, "== 0"), _row("b", 7)])
    assert code == 0
    assert data == {"a": 0, "b": 7}
    out = capsys.readouterr().out
    assert "fake row for the runner's own test" in out and "cpython" in out  # what + tier


def test_a_missed_target_exits_1_after_printing_everything(monkeypatch, tmp_path, capsys):
    rows = [_row("big", 4096, "<= 2048"), _row("later", 1, "== 1")]
    code, data = _main(monkeypatch, tmp_path, rows)
    assert code == 1
    out = capsys.readouterr().out
    assert "MISSED" in out and "later" in out and "missed targets: big" in out
    assert data == {"big": 4096, "later": 1}


def test_a_skipped_row_is_reported_not_failed(monkeypatch, tmp_path, capsys):
    code, data = _main(monkeypatch, tmp_path, [_row("needs_shared", None, "<= 2048")])
    assert code == 0
    assert data == {"needs_shared": None}
    assert "skipped (see their rows): needs_shared" in capsys.readouterr().out


def test_duplicate_keys_fail(monkeypatch, tmp_path, capsys):
    code, _ = _main(monkeypatch, tmp_path, [_row("k", 0), _row("k", 1)])
    assert code == 1
    assert "duplicate key k" in capsys.readouterr().out


def test_full_run_needs_every_headline_row_with_its_target(monkeypatch, tmp_path, capsys):
    assert _main(monkeypatch, tmp_path, _headline(), argv=())[0] == 0
    rows = _headline()[1:]
    assert _main(monkeypatch, tmp_path, rows, argv=())[0] == 1
    assert "headline row uplink_frame_alloc_bytes is missing" in capsys.readouterr().out
    rows = _headline()
    rows[3]["target"] = "<= 4096"  # a loosened target is an error, not a pass
    assert _main(monkeypatch, tmp_path, rows, argv=())[0] == 1
    assert "issue 8 says '<= 2048'" in capsys.readouterr().out


def test_first_audio_target_follows_the_player_prefill():
    from app import audio_path

    targets = dict(run.required())
    assert targets["latency_first_audio_to_sound_ms"] == "<= %d" % (audio_path._PREFILL_MS + 15)


def _lines(path):
    with open(path, encoding="utf-8") as f:
        raw = f.read().split("\n")
    return [(raw[i], raw[i + 1]) for i in range(0, len(raw) - 1, 2)]


def _shape(lines):
    out = []
    for direction, text in lines:
        msg = json.loads(text)
        data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
        content = data.get("content", "") if msg["event_type"].endswith("audio.delta") else ""
        out.append((direction, msg["event_type"], len(content)))
    return out


def test_default_session_fixture_is_what_the_script_makes():
    committed = _lines(make_default_session.OUT)
    fresh = asyncio.run(make_default_session.generate())
    assert _shape(committed) == _shape(fresh)
    sent = [json.loads(t) for d, t in committed if d == "send"]
    now = [json.loads(t) for d, t in fresh if d == "send"]
    for msg in sent + now:
        msg.pop("id")  # fresh per message
    assert sent == now  # the chat.update the device builds today
    # 50 ms of 16 kHz PCM per delta: what default_config_peak_heap_bytes is about.
    sizes = {n for _, t, n in _shape(committed) if t == "conversation.audio.delta"}
    assert max(sizes) == -(-1600 // 3) * 4


class _Result:
    def __init__(self, trace, speaker, writes):
        self.trace = trace
        self.speaker = speaker
        self.speaker_t0 = 0.0
        self.speaker_writes = writes

    def events(self, name):
        return [t for t, n, _ in self.trace if n == name]


def test_latency_rows_from_a_trace():
    rate = 1000
    samples = np.zeros(6 * rate, dtype=np.int16)
    samples[2000:3015] = 100  # the answer plays from 2.0 s until 15 ms after the barge-in
    trace = [(0.5, "state", "READY"), (1.0, "button_press", ""), (1.0, "state", "LISTENING"),
             (1.012, "first_append", ""), (1.5, "button_release", ""),
             (1.5, "state", "THINKING"), (1.502, "complete", ""), (1.99, "first_audio", ""),
             (1.995, "state", "SPEAKING"), (3.0, "button_press", ""),
             (3.0, "state", "LISTENING"), (3.001, "first_audio", ""),  # the spurious one
             (3.02, "first_append", "")]
    writes = [(1.995, 128), (3.004, 128)]
    rows = {r["key"]: r for r in bench_sim.rows_from(_Result(trace, (samples, rate), writes),
                                                     120)}
    assert rows["latency_press_to_first_append_ms"]["value"] == 16.0  # median of 12 and 20
    assert rows["latency_release_to_complete_ms"]["value"] == 2.0
    assert rows["latency_first_audio_to_sound_ms"]["value"] == 5.0  # spurious mark dropped
    assert rows["latency_first_audio_to_sound_ms"]["target"] == "<= 135"
    assert rows["latency_bargein_to_silence_ms"]["value"] == 15.0
    assert all(r["tier"] == "simulator" for r in rows.values())


def test_presses_fall_inside_the_previous_answer():
    presses = bench_sim.presses()
    assert len(presses) >= 5
    for (_, release), (press, _) in zip(presses, presses[1:], strict=False):
        assert press - release == pytest.approx(bench_sim.BARGE_AFTER_S)


def test_a_row_table_is_printed_and_written(monkeypatch, tmp_path, capsys):
    row = _row("code", 100)
    row["table"] = [["big_module", 60, 0], ["small_module", 40, 16]]
    row["table_columns"] = ["module", "bytes", "of them a new qstr pool"]
    code, data = _main(monkeypatch, tmp_path, [row])
    assert code == 0
    assert data == {"code": 100, "code_table": [["big_module", 60, 0], ["small_module", 40, 16]]}
    out = capsys.readouterr().out
    assert "code, top 2 of 2" in out and "small_module" in out and "of them a new qstr" in out


def test_device_bench_reads_qstr_pools_and_attributes_growth():
    from tools.bench import bench_device

    lines = ["@@QSTR 0", "qstr pool: n_pool=5, n_qstr=10, n_str_data_bytes=100, "
             "n_total_bytes=1100", "x", "@@QSTR 1",
             "qstr pool: n_pool=5, n_qstr=12, n_str_data_bytes=120, n_total_bytes=1120",
             "@@QSTR 2",
             "qstr pool: n_pool=6, n_qstr=14, n_str_data_bytes=140, n_total_bytes=5140"]
    pools = bench_device.qstr_pool_bytes(lines)
    assert pools == {0: 1000, 1: 1000, 2: 5000}
    table = bench_device._table({"rows": [["main.py", 300], ["grows_pool", 4500]],
                                 "qstr": pools})
    assert table == [["grows_pool", 4500, 4000], ["main.py", 300, 0]]


def test_device_bench_counts_only_deployed_mpy_modules():
    from tools.bench import bench_device

    found = {"order": ["app", "os", "app.log", "devboot"],
             "modules": [["app", "/flash/app/__init__.mpy"], ["os", "os/__init__.py"],
                         ["app.log", "/flash/app/log.mpy"], ["devboot", "/harness/devboot.py"],
                         ["json", None]]}
    order, port = bench_device.app_modules(found, "/flash")
    assert order == ["app", "app.log"] and port == ["json", "os"]
    found["modules"][2][1] = "/flash/app/log.py"
    with pytest.raises(bench_device.RunError, match="not a .mpy"):
        bench_device.app_modules(found, "/flash")
    assert bench_device.packages(["websock.client", "app.state", "boards.x"], "/r") == {
        "websock": "/r/lib/websock", "app": "/r/app", "boards": "/r/boards"}
