"""Silence inside 24 kHz answers, and whose it is, under both runtimes (`make bench` rows).

One simulated push-to-talk session per runtime (CPython in this process; the deployed firmware
in the MicroPython unix port), three turns of a 3.6 s answer at 24 kHz on a 24 kHz speaker bus:
the rate with the shallowest DMA (21 ms), so the one most exposed to a late play task. Every
gap the device's player reported is classed by tools/sim/gaps.py: "host" when the process waited
for a CPU through it, else the app's ("app": a late write; "network": the audio had not come).
The rows are the app's share in ms (what the firmware would be blamed for on a quiet machine)
and the total; the breakdown is in each row's "what". Real time on a shared host: read them as
this run's figures.
usage: .venv/bin/python tools/bench/bench_gaps.py
"""

import asyncio
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("lib", "firmware", ""):
    if os.path.join(ROOT, _sub) not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, _sub))

from tools import hostcompat  # noqa: E402,F401 - MicroPython shims before device modules

TIER = "simulator"
PRESSES = [(1.0, 2.0), (7.0, 8.0), (13.0, 14.0)]  # each answer plays out before the next press
RUNTIMES = ("cpython", "micropython")


def simulate(runtime):
    from tools.sim.harness import SimOptions, Simulation

    options = SimOptions(runtime=runtime, presses=PRESSES, out_rate=24000, echo=None,
                         cloud_options={"think_s": 0.1})
    return asyncio.run(Simulation(options).run())


def rows_for(runtime, result):
    if result.crashed:
        raise RuntimeError("the simulated app crashed: " + result.crashed)
    by_cause = {}
    for gap in result.gaps:
        by_cause[gap["cause"]] = by_cause.get(gap["cause"], 0) + gap["ms"]
    played_s = result.player_stats.get("bytes_played", 0) / 2 / 24000
    app_ms = by_cause.get("app", 0) + by_cause.get("network", 0)
    detail = ", ".join("%s %d ms" % kv for kv in sorted(by_cause.items())) or "none"
    what = ("%d turns, %.1f s of 24 kHz answer played; gaps by cause: %s (%d gaps); runtime %s"
            % (len(PRESSES), played_s, detail, len(result.gaps), runtime))
    return [
        {"key": "reply_gap_app_ms_24k_%s" % runtime, "value": app_ms, "unit": "ms",
         "target": None, "tier": TIER, "what": "the app's share (app + network): " + what},
        {"key": "reply_gap_total_ms_24k_%s" % runtime,
         "value": sum(g["ms"] for g in result.gaps), "unit": "ms", "target": None,
         "tier": TIER, "what": "every gap, the host's included: " + what},
    ]


def run():
    rows = []
    for runtime in RUNTIMES:
        rows += rows_for(runtime, simulate(runtime))
    return rows


if __name__ == "__main__":
    for row in run():
        print("%-34s %8s %-4s %s" % (row["key"], row["value"], row["unit"], row["what"]))
