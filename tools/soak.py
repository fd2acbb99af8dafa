"""Free-talk soak in the simulator: N turns (default 50) of the real app on virtual hardware,
through the fault proxy with no fault, against the fake cloud; prints the device heap curve.

    python -m tools.soak                 # 50 free-talk turns (~5 s each)
    python -m tools.soak --turns 5 --mode ptt

The device heap is tracemalloc's count of live allocations made by code in lib/ and firmware/,
read when the app has settled before each turn. Exit status 0 when every turn was answered,
nothing crashed, the speaker played only reply audio, and the heap before the last turn is within
GROWTH_LIMIT bytes of the heap before turn 2 (turn 1 warms caches and the session up).
"""

import argparse
import json
import os
import sys

from tools.fault.driver import ROOT, Scenario, run_scenario

GROWTH_LIMIT = 2048


def heap_curve(out):
    """[(turn, device heap bytes at the sample taken just before that turn started)]."""
    samples = out.get("heap_samples") or []
    curve = []
    for turn, t in enumerate(out.get("turn_starts") or [], 1):
        before = [b for ts, b in samples if ts <= t]
        if before:
            curve.append((turn, before[-1]))
    return curve


def soak(turns, mode="free", echo=None):
    from tools.sim.harness import run_on_loop

    sc = Scenario("soak", "speaking", mode, [], turns=turns)
    # Virtual time, as the fault matrix: the soak is about heap and turn-taking, not the host's
    # speed, and a loaded host must not lose a turn to a late timer.
    out = run_on_loop(run_scenario(sc, echo=echo, virtual_time=True), virtual_time=True)
    curve = heap_curve(out)
    problems = list(out["problems"])
    if out.get("turns_spoken", 0) < turns:
        problems.append("%d of %d turns were answered" % (out.get("turns_spoken", 0), turns))
    growth = None
    if len(curve) >= 2:
        growth = curve[-1][1] - curve[min(1, len(curve) - 1)][1]
        if growth > GROWTH_LIMIT:
            problems.append("device heap grew %d bytes from turn 2 to turn %d (limit %d)"
                            % (growth, curve[-1][0], GROWTH_LIMIT))
    return {"turns": turns, "mode": mode, "ok": not problems, "problems": problems,
            "curve": curve, "growth": growth, "wall_s": out.get("wall_s"),
            "log_tail": out.get("log_tail", [])}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--mode", choices=("free", "ptt"), default="free")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "soak.json"))
    args = ap.parse_args(argv)
    res = soak(args.turns, args.mode, echo=print if args.verbose else None)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    print("soak: %d %s turns in %s s; device heap before each turn (turn:bytes):"
          % (res["turns"], res["mode"], res["wall_s"]))
    print(" ".join("%d:%d" % p for p in res["curve"]))
    print("soak: growth turn 2 -> last: %s bytes (limit %d)" % (res["growth"], GROWTH_LIMIT))
    for line in res["problems"]:
        print("soak: FAIL " + line)
    print("soak: ok" if res["ok"] else "soak: failed")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
