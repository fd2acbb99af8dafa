"""`make flaketest`: run the whole `make test` N times on a clean clone, beside K CPU burners.

    python tools/flaketest.py --runs 10 --burners 2        # N = 10, K = 2

A test whose outcome depends on host speed shows up here as a tier that is not green every time.
The clone is made once from HEAD (committed work only, as CI sees it) into a temporary folder
with ../shared beside it when this checkout has one; its first `make test` also installs the
pinned tools, as on a fresh machine. The burners are busy-looping processes, started before each
run and stopped after it. Prints one line per run and a per-tier table; out/flaketest.json keeps
every run's summary lines and the failing tests' names. Exits 1 if any run failed.
"""

import argparse
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
_TIER_LINE = re.compile(
    r"^(.{38}) (ok  |FAIL)  (\d+) passed, (\d+) failed, (\d+) skipped  \((\d+) s\)")
_FAILED_TEST = re.compile(r"^(FAILED|ERROR) (\S+)")


def burn(stop_at):
    while time.monotonic() < stop_at:
        pass


def clone(dest):
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", ROOT, os.path.join(dest, "main")],
                   check=True)
    if os.path.isdir(SHARED):
        os.symlink(SHARED, os.path.join(dest, "shared"))
    return os.path.join(dest, "main")


def one_run(repo, burners, limit_s):
    stop_at = time.monotonic() + limit_s
    procs = [multiprocessing.Process(target=burn, args=(stop_at,), daemon=True)
             for _ in range(burners)]
    for p in procs:
        p.start()
    start = time.monotonic()
    try:
        proc = subprocess.run(["make", "test"], cwd=repo, capture_output=True, text=True,
                              timeout=limit_s)
        out, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out, code = (exc.stdout or b"").decode("utf-8", "replace"), "timeout"
    finally:
        for p in procs:
            p.terminate()
            p.join()
    tiers = {}
    for line in out.splitlines():
        m = _TIER_LINE.match(line)
        if m:
            tiers[m.group(1).strip()] = {"ok": m.group(2).strip() == "ok",
                                         "passed": int(m.group(3)), "failed": int(m.group(4)),
                                         "seconds": int(m.group(6))}
    failed = sorted({m.group(2) for m in map(_FAILED_TEST.match, out.splitlines()) if m})
    return {"code": code, "seconds": round(time.monotonic() - start), "tiers": tiers,
            "failed_tests": failed, "output": out}


def save(runs, burners):
    """out/flaketest.json after every run: a cut-off session keeps the runs that finished."""
    os.makedirs(os.path.join(ROOT, "out"), exist_ok=True)
    with open(os.path.join(ROOT, "out", "flaketest.json"), "w") as f:
        json.dump({"burners": burners, "runs": runs}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--limit", type=float, default=1800, help="seconds allowed per run")
    ap.add_argument("--keep", action="store_true", help="keep the clone")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="flaketest-")
    runs = []
    try:
        repo = clone(work)
        head = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        print("flaketest: %d runs of make test on a clone of %s, %d CPU burners beside each"
              % (args.runs, head, args.burners), flush=True)
        for i in range(args.runs):
            res = one_run(repo, args.burners, args.limit)
            output = res.pop("output")
            if res["code"] != 0:
                log = os.path.join(ROOT, "out", "flaketest-run-%d.log" % (i + 1))
                os.makedirs(os.path.dirname(log), exist_ok=True)
                with open(log, "w") as f:
                    f.write(output)
                res["log"] = os.path.relpath(log, ROOT)
            runs.append(res)
            save(runs, args.burners)
            bad = [name for name, t in res["tiers"].items() if not t["ok"]]
            print("run %2d: %s in %4d s%s" % (
                i + 1, "ok  " if res["code"] == 0 else "FAIL", res["seconds"],
                "" if not bad else "; failed: %s %s" % (", ".join(bad),
                                                        " ".join(res["failed_tests"]))),
                  flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    names = sorted({n for r in runs for n in r["tiers"]})
    print("\n%-38s %-11s %s" % ("tier", "green runs", "seconds (min-max)"))
    for name in names:
        green = sum(1 for r in runs if r["tiers"].get(name, {}).get("ok"))
        secs = sorted(r["tiers"][name]["seconds"] for r in runs if name in r["tiers"])
        print("%-38s %-11s %d-%d" % (name, "%d / %d" % (green, len(runs)), secs[0], secs[-1]))
    passed = sum(1 for r in runs if r["code"] == 0)
    times = sorted(r["seconds"] for r in runs)
    print("runs: %d passed, %d failed; make test took %s s (median %s s)" % (
        passed, len(runs) - passed, "-".join(map(str, times[:1] + times[-1:])),
        times[len(times) // 2] if times else "-"))
    save(runs, args.burners)
    return 0 if runs and passed == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
