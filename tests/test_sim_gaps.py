"""Honest counts: every silence inside an answer is counted, with its time and its cause.

The device's player reports each gap (lib/audio/player.py: "underrun" when its ring ran dry,
"late" when it wrote after the DMA had played out); the simulator names the cause from the
kernel's scheduler account (tools/sim/gaps.py: "host" when the process sat waiting for a CPU,
else "app" or "network"). `python -m tools.sim` fails a run whose answer had a gap unless
--allow-gaps is given, and prints where each gap was.
"""

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from tools.sim import gaps
from tools.sim.harness import ROOT, SimOptions, Simulation

# A 2 s network stall in the middle of the answer (after its 20th audio message): far longer
# than the player's buffer, so the speaker must go quiet inside the answer.
STALL = "stall:2@audio:20"


def _cli(*args):
    env = dict(os.environ)
    env.pop("COZE_TOKEN", None)
    env.pop("COZE_BOT_ID", None)
    return subprocess.run([sys.executable, "-m", "tools.sim", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_an_answer_with_a_gap_fails_the_run_and_says_where(runtime, tmp_path):
    # CPython on virtual time (--virtual-time): the stall is in the cloud, so it is the same gap.
    clock = ["--virtual-time"] if runtime == "cpython" else []
    p = _cli("--runtime", runtime, *clock, "--inject", STALL, "--out-dir", str(tmp_path))
    assert p.returncode == 1, p.stdout[-2000:]
    failed = [line for line in p.stdout.splitlines() if line.startswith("sim: FAILED")]
    # The line names the first gap, which in real time on a busy host may be a short late one
    # before the stall's underrun: the report below has them all.
    assert len(failed) == 1 and "gap(s)" in failed[0] and "--allow-gaps" in failed[0], failed
    # The failed run's report says where the gap was.
    with open(tmp_path / "sim-report.json") as f:
        rep = json.load(f)
    assert rep["ok"] is False
    # The stall's underrun is the longest (a busy host may add short ones before it).
    underruns = [g for g in rep["gaps"] if g["kind"] == "underrun"]
    stall = max(underruns, key=lambda g: g["ms"]) if underruns else None
    assert stall and stall["ms"] >= 500, rep["gaps"]
    # It starts inside the answer: after SPEAKING began, before the run went back to READY.
    speaking = [t for t, s in rep["states"] if s == "SPEAKING"]
    assert speaking[0] < stall["t"] < rep["states"][-1][0]
    assert rep["player"]["underrun_ms"] >= 500
    assert any(line.startswith("sim: gap: ") for line in p.stdout.splitlines())


def test_allow_gaps_passes_the_run_and_still_reports_the_gap(tmp_path):
    # The verdict is the host's (tools/sim/cli.py), the same for both runtimes.
    p = _cli("--virtual-time", "--inject", STALL, "--allow-gaps", "--out-dir", str(tmp_path))
    assert p.returncode == 0, p.stdout[-2000:]
    assert p.stdout.rstrip().endswith("sim: ok")
    with open(tmp_path / "sim-report.json") as f:
        rep = json.load(f)
    assert rep["ok"] is True and [g["kind"] for g in rep["gaps"]] == ["underrun"], rep["gaps"]
    assert any(line.startswith("sim: gap: ") for line in p.stdout.splitlines())


@pytest.mark.parametrize("ticks_at_start", ["now", "just before the wrap"])
def test_a_stalled_play_task_is_a_late_gap_of_the_app(ticks_at_start):
    # Block the app's event loop (it shares this process's loop under CPython) for 120 ms in the
    # middle of the answer: the DMA plays out, and the player must report the silence as late.
    # Also with the app's ticks_us about to wrap (2**30 us, 17.9 min on the board): the player
    # must not compare against a time from another half of the ticks period.
    import compat

    if ticks_at_start != "now":
        base = time.monotonic_ns()
        # The wrap comes 3.5 s in: after the stall, in the middle of the answer.
        compat.use_clock_ns(lambda: time.monotonic_ns() - base + ((1 << 30) - 3_500_000) * 1000)

    async def run():
        sim = Simulation(SimOptions(presses=[(1.0, 2.2)], echo=None,
                                    cloud_options={"think_s": 0.1}))
        loop = asyncio.get_running_loop()

        from app import runner

        def stall_when_playing():
            # Mid-answer: playing, with audio waiting in the ring (so the silence is not the
            # network's), however late a loaded host got here.
            app = runner.current()
            player = app.audio.player if app is not None and app.audio else None
            if player is not None and player.stats["bytes_played"] >= 8000 and \
                    player.buffered_ms() >= 60:
                time.sleep(0.12)  # the whole loop stops: the play task cannot write
            else:
                loop.call_later(0.01, stall_when_playing)

        loop.call_later(1.0, stall_when_playing)
        return await sim.run()

    try:
        result = asyncio.run(asyncio.wait_for(run(), 60))
    finally:
        compat.use_clock_ns(None)
    late = [g for g in result.gaps if g["kind"] == "late"]
    # The stall's own gap (a loaded host may add short ones of its own around it).
    assert any(60 <= g["ms"] <= 400 for g in late), result.gaps
    assert all(g["cause"] in ("app", "host") for g in late), late
    assert result.player_stats["late_gaps"] >= 1


class _Monitor:
    def __init__(self, samples):
        self.samples = samples

    waited_ms = gaps.SchedMonitor.waited_ms


class _Result:
    def __init__(self, trace):
        self.trace = trace


def test_a_gap_while_the_process_waited_for_a_cpu_is_the_hosts():
    # 60 ms of run-queue wait around a 50 ms late gap: the host's; 2 ms: the app's.
    trace = [(3.0, "gap", "late 50"), (5.0, "gap", "underrun 80")]
    busy = _Monitor([(2.9, 0), (3.01, 60_000_000), (4.8, 60_000_000), (5.01, 62_000_000)])
    got = gaps.gaps(_Result(trace), busy)
    assert [(g["kind"], g["cause"]) for g in got] == [("late", "host"), ("underrun", "network")]
    assert got[0]["t"] == 2.95 and got[0]["waited_ms"] == 60.0
    assert "waiting 60.0 ms for a CPU" in gaps.describe(got[0])
    assert gaps.gaps(_Result(trace), _Monitor([]))[0]["cause"] == "unknown"


def test_the_bench_rows_give_the_apps_share_apart_from_the_hosts():
    from tools.bench import bench_gaps

    class Run:
        crashed = None
        player_stats = {"bytes_played": 2 * 24000 * 3}
        gaps = [{"ms": 30, "cause": "host"}, {"ms": 12, "cause": "app"},
                {"ms": 5, "cause": "network"}]

    rows = {r["key"]: r for r in bench_gaps.rows_for("cpython", Run())}
    assert rows["reply_gap_app_ms_24k_cpython"]["value"] == 17
    assert rows["reply_gap_total_ms_24k_cpython"]["value"] == 47
    assert "host 30 ms" in rows["reply_gap_total_ms_24k_cpython"]["what"]
    assert "3.0 s of 24 kHz" in rows["reply_gap_app_ms_24k_cpython"]["what"]
