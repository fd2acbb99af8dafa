"""The mic front end's rows in the MicroPython unix tier (`make bench`): tests/mp/bench_frontend.py
run by tools/mptest/run_unix.py, where the viper kernels are native code, so its CPU per 20 ms
frame of the echo guard and the AGC is the figure of record (x64 host: the ESP32 at 240 MHz is
many times slower; read the share as an order of magnitude). The WebAssembly run of the same file
(every tests/mp/bench_*.py) gives its plain-Python rows beside these.
usage: .venv/bin/python tools/bench/bench_frontend.py
"""

import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tests", "mp", "bench_frontend.py")


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
            return json.load(f)


if __name__ == "__main__":
    for row in run():
        print("%-28s %12s %-6s %-8s %s" % (row["key"], row["value"], row["unit"],
                                           row.get("target") or "report", row["what"]))
