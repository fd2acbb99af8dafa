"""`make bench`: every benchmark row, with its tier, what ran and its target; out/bench.json.

Rows come from two places, measured in this one run:
- MicroPython tier: tests/mp/bench_*.py run under the WebAssembly interpreter; they report rows
  with mptest.bench(...);
- CPython / simulator: tools/bench/bench_*.py modules exposing run() -> list of row dicts.
A row is {"key", "value", "unit", "target", "tier", "what"}; target is None (report only) or a
string "<= N", ">= N" or "== N". Any missed target makes the command exit 1, after printing all.
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

import compat  # noqa: E402,F401 - MicroPython shims before any device module


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
    if target is None:
        return True
    op, _, number = target.partition(" ")
    limit = float(number)
    return {"<=": value <= limit, ">=": value >= limit, "==": value == limit}[op]


def fmt(value):
    if isinstance(value, float):
        return "%.3g" % value
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    mp_rows, mp_fail = micropython_rows(args.only)
    py_rows, py_fail = cpython_rows(args.only)
    rows = mp_rows + py_rows
    missed = []
    line = "%-40s %12s %-6s %-10s %-6s %-12s %s"
    print("\n" + line % ("key", "value", "unit", "target", "ok", "tier", "what"))
    for row in rows:
        ok = meets(row["value"], row.get("target"))
        if not ok:
            missed.append(row["key"])
        print(line % (
            row["key"], fmt(row["value"]), row.get("unit", ""), row.get("target") or "report",
            "yes" if ok else "MISSED", row.get("tier", ""), row.get("what", "")))
    with open(os.path.join(OUT, "bench.json"), "w") as f:
        json.dump({row["key"]: row["value"] for row in rows}, f, indent=1, sort_keys=True)
    print("\nwrote out/bench.json (%d rows)" % len(rows))
    for problem in mp_fail + py_fail:
        print("ERROR: " + problem)
    if missed:
        print("missed targets: " + ", ".join(missed))
    return 1 if missed or mp_fail or py_fail or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
