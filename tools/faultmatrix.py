"""The fault matrix: every fault at every phase of a conversation, in both modes, through the
simulator (the real app on virtual hardware -> tools/faultproxy.py -> recorder -> fake cloud).

    python -m tools.faultmatrix                    # all scenarios -> out/fault-matrix.{md,json}
    python -m tools.faultmatrix --fast             # the subset tests/test_fault_matrix.py runs
    python -m tools.faultmatrix --only rst-speaking-ptt --verbose
    python -m tools.faultmatrix --docs             # also rewrite the table in docs/reliability.md

Each scenario runs in its own process (the simulator patches sys.modules, and tracemalloc then
measures one app only), --jobs at a time; a scenario is mostly real-time waiting, so 3 jobs fit
on 2 cores. What each scenario must show is listed in tools/fault/checks.py. Exit status 0 when
every scenario passed.
"""

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = ("ptt", "free")
PHASES = ("connecting", "listening", "thinking", "speaking")
AUTH_ERROR = ('{"id":"fault-4100","event_type":"error","data":{"code":4100,'
              '"msg":"injected: token refused"}}')
OUTAGE_S = 5.0
STALL_S = 3.0


def trigger(phase, mode):
    """The proxy trigger that puts a fault in `phase`."""
    if phase == "connecting":
        return "down:chat.updated"  # the session ack of the first connection
    if phase == "listening":
        # Push-to-talk: half a second into the press. Free talk: the cloud just heard speech.
        return "up:input_audio_buffer.append#25" if mode == "ptt" else \
            "down:input_audio_buffer.speech_started"
    if phase == "thinking":
        return "down:conversation.chat.created"
    return "down:conversation.audio.delta#4"


# name -> (proxy fault kinds with their argument, expected outcome, outage seconds)
FAULTS = (
    ("delay", ["delay:150,100"], "rest", 0.0),
    ("stall", ["stall:%g" % STALL_S], "rest", STALL_S),
    ("cut", ["cut"], "rest", 0.0),
    ("rst", ["rst"], "rest", 0.0),
    ("truncate", ["truncate"], "rest", 0.0),
    ("desync", ["truncate_raw"], "rest", 0.0),
    ("flip-utf8", ["flip:utf8"], "rest", 0.0),
    ("flip-b64", ["flip:b64"], "rest", 0.0),
    ("outage", ["rst", "refuse:%g" % OUTAGE_S], "rest", OUTAGE_S),
    ("auth-4100", ["inject:" + AUTH_ERROR], "error", 0.0),
)
# What `make test` runs (tests/test_fault_matrix.py): every fault kind once, both modes, every
# phase at least twice.
FAST = ("rst-speaking-ptt", "flip-b64-speaking-ptt", "outage-thinking-free",
        "stall-listening-free", "desync-connecting-ptt", "auth-4100-speaking-free",
        "http401-connecting-ptt", "cut-listening-ptt", "truncate-thinking-ptt",
        "flip-utf8-connecting-free", "delay-speaking-free")


def scenarios():
    from tools.fault.driver import Scenario

    out = []
    for fault, kinds, expect, outage in FAULTS:
        for phase in PHASES:
            for mode in MODES:
                when = trigger(phase, mode)
                specs = ["%s@%s" % (k, when) for k in kinds]
                sc = Scenario(fault, phase, mode, specs, expect=expect, outage_s=outage,
                              burst=fault == "flip-b64" and phase == "speaking",
                              turns=1 if phase == "connecting" else 2)
                out.append(sc)
    for mode in MODES:
        out.append(Scenario("http401", "connecting", mode, [], expect="error", http401=True,
                            turns=1))
    for sc in out:
        sc.fast = sc.name in FAST
    return out


def by_name():
    return {sc.name: sc for sc in scenarios()}


def _run_one(name, verbose=False, heap=True):
    """Process entry point: run one scenario, return its JSON-friendly result (`heap`: trace
    the device code's CPython heap with tracemalloc, which makes the run ~6x slower)."""

    # A spawned worker inherits the parent's sys.path, where (under pytest) another test may
    # have put tools/ ahead of lib/: device packages must win (tools/cloud vs lib/cloud).
    for sub in ("", "firmware", "lib"):
        path = os.path.join(ROOT, sub) if sub else ROOT
        while path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    while os.path.join(ROOT, "tools") in sys.path:
        sys.path.remove(os.path.join(ROOT, "tools"))

    from tools.fault.driver import run_scenario

    sc = by_name()[name]
    try:
        from tools.sim.harness import run_on_loop

        # Virtual time: the scenario's order and spacing are what it checks, not the host's speed.
        return run_on_loop(run_scenario(sc, echo=print if verbose else None, heap=heap,
                                        virtual_time=True), virtual_time=True)
    except Exception as exc:  # noqa: BLE001 - a harness failure is a failed row, not a dead run
        import traceback

        return {"name": name, "fault": sc.fault, "phase": sc.phase, "mode": sc.mode,
                "ok": False, "problems": ["harness error: %r" % exc],
                "log_tail": traceback.format_exc().splitlines()[-20:]}


def run_many(names, jobs=3, verbose=False, progress=None, traced=None):
    """Run scenarios in fresh processes, `jobs` at a time; returns results in `names` order.
    `traced`: the names whose heap is traced (tracemalloc); None traces every one.

    Each runs once: a failure is a failure, however busy the host was (the worst event-loop lag
    is kept in `lag_max_s`, to read, not to excuse). The driver waits on the app's state and a
    live link, not on sleeps, so a loaded host makes a run slower, not different."""
    ctx = multiprocessing.get_context("spawn")
    results = {}
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                                                max_tasks_per_child=1) as pool:
        futures = {pool.submit(_run_one, n, verbose, traced is None or n in traced): n
                   for n in names}
        for fut in concurrent.futures.as_completed(futures):
            res = fut.result()
            results[futures[fut]] = res
            if progress:
                progress(res)
    return [results[n] for n in names]


def _cell(res):
    if res is None:
        return "-"
    if not res["ok"]:
        return "**FAIL** " + "; ".join(res["problems"])[:120]
    text = "%s in %.1f s" % (res["end_state"], res["recovered_s"])
    if res.get("reconnects"):
        text += ", %d reconnect%s" % (res["reconnects"], "s" if res["reconnects"] > 1 else "")
    return text


def table(results):
    """The markdown matrix: one row per fault and phase, one column per mode."""
    index = {(r["fault"], r["phase"], r["mode"]): r for r in results}
    faults = []
    for r in results:
        if r["fault"] not in faults:
            faults.append(r["fault"])
    lines = ["| fault | phase | push-to-talk | free talk |", "|---|---|---|---|"]
    for fault in faults:
        for phase in PHASES:
            cells = [index.get((fault, phase, m)) for m in MODES]
            if cells == [None, None]:
                continue
            lines.append("| %s | %s | %s | %s |" % (fault, phase, _cell(cells[0]),
                                                     _cell(cells[1])))
    ok = [r for r in results if r["ok"]]
    times = sorted(r["recovered_s"] for r in ok if r.get("recovered_s") is not None)
    heaps = [r["heap_peak_device"] for r in results if r.get("heap_peak_device")]
    lines.append("")
    lines.append("Faults tried: %d; recovered as expected: %d; failed: %d." % (
        len(results), len(ok), len(results) - len(ok)))
    if times:
        lines.append("Time to recover (fault -> READY/LISTENING, or ERROR for auth): median "
                     "%.1f s, max %.1f s." % (times[len(times) // 2], times[-1]))
    if heaps:
        lines.append("Device heap (tracemalloc, lib/ + firmware/; CPython): peak %d KB over %s."
                     % (max(heaps) // 1024, "all runs" if len(heaps) == len(results) else
                        "the %d traced run(s)" % len(heaps)))
    return "\n".join(lines)


DOCS = os.path.join(ROOT, "docs", "reliability.md")


def write_docs(md, path=DOCS):
    with open(path) as f:
        text = f.read()
    start, end = "<!-- fault-matrix -->", "<!-- /fault-matrix -->"
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    with open(path, "w") as f:
        f.write(head + start + "\n" + md + "\n" + end + tail)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.faultmatrix",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="only the make-test subset")
    ap.add_argument("--only", action="append", help="scenario name (repeatable)")
    ap.add_argument("--list", action="store_true", help="list scenario names and exit")
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--verbose", action="store_true", help="print each run's states")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "fault-matrix.md"))
    ap.add_argument("--docs", action="store_true", help="rewrite docs/reliability.md's table")
    args = ap.parse_args(argv)
    all_sc = scenarios()
    if args.list:
        for sc in all_sc:
            print(sc.name + ("  (fast)" if sc.fast else ""))
        return 0
    names = args.only or [sc.name for sc in all_sc if sc.fast or not args.fast]
    unknown = [n for n in names if n not in by_name()]
    if unknown:
        ap.error("unknown scenario(s): %s (see --list)" % ", ".join(unknown))
    t0 = time.monotonic()

    def progress(res):
        print("%-32s %s" % (res["name"], "ok  " + _cell(res) if res["ok"] else
                            "FAIL " + "; ".join(res["problems"])), flush=True)

    results = run_many(names, jobs=1 if args.verbose else args.jobs, verbose=args.verbose,
                       progress=progress)
    md = table(results)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md + "\n")
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(results, f, indent=1)
    if args.docs:
        write_docs(md)
    print(md)
    print("faultmatrix: %d scenario(s) in %.0f s; table in %s" % (
        len(results), time.monotonic() - t0, os.path.relpath(args.out)))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
