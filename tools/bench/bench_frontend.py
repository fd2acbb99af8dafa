"""The mic front end's rows in the MicroPython unix tier (`make bench`): tests/mp/bench_frontend.py
run by tools/mptest/run_unix.py, where the viper kernels are native code, so its CPU per 20 ms
frame of the echo guard and the AGC is the figure of record (x64 host: the ESP32 at 240 MHz is
many times slower; read the share as an order of magnitude). Its rows are the CPU ones, keyed
KEY_unix; the WebAssembly run of the same file (every tests/mp/bench_*.py) gives all the rows,
its CPU ones as plain Python.
usage: .venv/bin/python tools/bench/bench_frontend.py
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tests", "mp", "bench_frontend.py")
CPU_ROWS = ("echo_guard_frame_us", "mic_agc_frame_us", "mic_frontend_frame_share")


def run():
    with tempfile.TemporaryDirectory(prefix="bench-frontend-") as tmp:
        out = os.path.join(tmp, "rows.json")
        cmd = [sys.executable, os.path.join(ROOT, "tools", "mptest", "run_unix.py"),
               "--bench-out", out, SCRIPT]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError("bench_frontend failed under the unix port:\n" + proc.stdout
                               + proc.stderr)
        with open(out) as f:
            rows = json.load(f)
    keep = []
    for row in rows:
        if row["key"] in CPU_ROWS:
            row["key"] += "_unix"
            keep.append(row)
    return keep


if __name__ == "__main__":
    for row in run():
        print("%-28s %12s %-6s %-8s %s" % (row["key"], row["value"], row["unit"],
                                           row.get("target") or "report", row["what"]))
