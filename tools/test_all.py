"""`make test`: run every test tier, print a one-line summary for each, fail if any fails.

Tiers: pytest on CPython, the MicroPython tiers (WebAssembly, and the unix port with native
viper kernels), the mpy-cross compile of every device file, the hardware API type check
(tools/hwcheck.py), and ruff. Each runs even when an earlier one failed, so one run shows
everything.
usage: python tools/test_all.py [--only TIER ...]
"""

import argparse
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "out")
PY = sys.executable
BIN = os.path.dirname(PY)
PYTEST_WORKERS = os.environ.get("PYTEST_WORKERS", "3")


def run(cmd):
    print("\n$ " + " ".join(cmd), flush=True)
    proc = subprocess.run(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    sys.stdout.write(proc.stdout)
    sys.stdout.flush()
    return proc.returncode, proc.stdout


def counts_from_line(output, label):
    pattern = label + r"[^:\n]*: (\d+) passed, (\d+) failed(?:, (\d+) skipped)?"
    matches = list(re.finditer(pattern, output))
    if not matches:
        return None
    match = matches[-1]
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def tier_pytest():
    report = os.path.join(OUT, "pytest.xml")
    # Simulated sessions mostly wait on real time, so workers overlap well even on 2 cores.
    # tests/conftest.py schedules: each test on its own, but a module that shares one expensive
    # fixture (the fault-matrix subset) on one worker.
    code, _ = run([PY, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", PYTEST_WORKERS,
                   "--junitxml=" + report, "tests"])
    try:
        suite = ET.parse(report).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        total = int(suite.get("tests"))
        failed = int(suite.get("failures")) + int(suite.get("errors"))
        skipped = int(suite.get("skipped"))
    except (OSError, ET.ParseError, AttributeError, TypeError):
        return code or 1, (0, 1, 0)
    return code, (total - failed - skipped, failed, skipped)


def tier_micropython():
    code, out = run(["node", os.path.join("tools", "mptest", "run.mjs")])
    return code, counts_from_line(out, "micropython") or (0, 1, 0)


def tier_micropython_unix():
    code, out = run([PY, os.path.join("tools", "mptest", "run_unix.py")])
    return code, counts_from_line(out, r"micropython \(unix\)") or (0, 1, 0)


def tier_cross_compile():
    code, out = run([PY, os.path.join("tools", "cross_compile.py")])
    return code, counts_from_line(out, "cross-compile") or (0, 1, 0)


def tier_hwcheck():
    code, out = run([PY, os.path.join("tools", "hwcheck.py")])
    return code, counts_from_line(out, "hwcheck") or (0, 1, 0)


def tier_lint():
    code, out = run([os.path.join(BIN, "ruff"), "check", "."])
    errors = re.search(r"Found (\d+) error", out)
    failed = int(errors.group(1)) if errors else (1 if code else 0)
    return code, (0 if code else 1, failed, 0)


TIERS = {
    "pytest": ("pytest (CPython)", tier_pytest),
    "micropython": ("micropython (WebAssembly)", tier_micropython),
    "micropython-unix": ("micropython (unix)", tier_micropython_unix),
    "cross-compile": ("cross-compile (mpy-cross xtensawin)", tier_cross_compile),
    "hwcheck": ("hwcheck (mypy vs esp32 stubs)", tier_hwcheck),
    "lint": ("lint (ruff)", tier_lint),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(TIERS), default=sorted(TIERS))
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    summary = []
    for key in TIERS:
        if key not in args.only:
            continue
        label, tier = TIERS[key]
        start = time.monotonic()
        code, (passed, failed, skipped) = tier()
        ok = code == 0 and failed == 0 and passed > 0
        summary.append((label, ok, passed, failed, skipped, time.monotonic() - start))
    print("\n== summary ==")
    totals = [0, 0, 0]
    for label, ok, passed, failed, skipped, seconds in summary:
        print("%-38s %s  %d passed, %d failed, %d skipped  (%.0f s)"
              % (label, "ok  " if ok else "FAIL", passed, failed, skipped, seconds))
        totals[0] += passed
        totals[1] += failed if ok or failed else 1
        totals[2] += skipped
    print("total: %d passed, %d failed, %d skipped" % tuple(totals))
    return 0 if all(row[1] for row in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
