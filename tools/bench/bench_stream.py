"""The streaming downlink's memory does not depend on the server: `make bench` rows.

downlink_peak_heap_by_message_size: the default config's receive pipeline (WebSocket client,
session, the app's downlink, player, speaker bus) fed reply audio in deltas of 2 KB, 20 KB,
200 KB and 1 MB of base64 (tests/mp/bench_pipeline.py downlink_by_message_size_rows). The heap
is sampled after gc.collect() at every message boundary and every 16 KB read inside a message;
the row is the spread of the peaks, and each size has its own row.

Measured on the MicroPython unix port, not the 32-bit WebAssembly one, because the question is
whether the peak moves, and only the unix port collects when asked: on WebAssembly a collection
runs at the next return to JavaScript, so each sample also counts whatever garbage came since
the previous one, and that varies with the number of messages. The absolute figures are
64-bit; the 32-bit ones are in default_config_peak_heap_bytes and bench_device's rows.
usage: .venv/bin/python tools/bench/bench_stream.py
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.path.join(ROOT, "tests", "mp", "unix_heap_sizes.py")
OUT = os.path.join(ROOT, "out", "bench_stream_unix.json")
TIMEOUT_S = 600


def run():
    if os.path.exists(OUT):
        os.remove(OUT)
    cmd = [sys.executable, os.path.join(ROOT, "tools", "mptest", "run_unix.py"),
           "--bench-out", OUT, MODULE]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    if proc.returncode != 0 or not os.path.exists(OUT):
        raise RuntimeError("the unix-port heap run failed:\n" + proc.stdout[-2000:] +
                           proc.stderr[-2000:])
    with open(OUT) as f:
        rows = json.load(f)
    for row in rows:
        row["tier"] = "micropython-unix"
    return rows


if __name__ == "__main__":
    for r in run():
        print("%-40s %10s %s  %s" % (r["key"], r["value"], r["unit"], r["target"] or ""))
