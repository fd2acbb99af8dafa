# The fast subset of the fault matrix (tools/faultmatrix.py FAST): each scenario is a real
# simulated conversation (app -> fault proxy -> recorder -> fake cloud) in its own process, two
# at a time. The full matrix (all faults x 4 phases x 2 modes) is `python -m tools.faultmatrix`.
# What each scenario must show is in tools/fault/checks.py; the subset's table is written to
# out/fault-matrix-fast.md.
import json
import os

import pytest

from tools import faultmatrix
from tools.fault import checks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The scenario whose device heap is traced (tracemalloc makes a run ~6x slower: 11 s of CPU
# instead of 2): a reconnect in the middle of an answer, where buffers would leak if any did.
# `python -m tools.faultmatrix` traces every scenario.
TRACED = ("rst-speaking-ptt",)


@pytest.fixture(scope="module")
def results():
    # Two at a time, on virtual time: the outcome does not depend on the host's speed.
    out = faultmatrix.run_many(list(faultmatrix.FAST), jobs=2, traced=TRACED)
    os.makedirs(os.path.join(ROOT, "out"), exist_ok=True)
    with open(os.path.join(ROOT, "out", "fault-matrix-fast.md"), "w") as f:
        f.write(faultmatrix.table(out) + "\n")
    with open(os.path.join(ROOT, "out", "fault-matrix-fast.json"), "w") as f:
        json.dump(out, f, indent=1)
    return {r["name"]: r for r in out}


# conftest.py ONE_WORKER_MODULES schedules this module on one xdist worker: the module-scoped
# fixture then runs the subset once, instead of once on every worker that got a scenario.
@pytest.mark.parametrize("name", faultmatrix.FAST)
def test_fault_scenario_recovers(results, name):
    res = results[name]
    detail = "\n".join(res["problems"] + ["--- app log (tail) ---"] + res.get("log_tail", []))
    assert res["ok"], detail
    assert res["recovered_s"] <= res["bound_s"]
    assert res["final_turn_ok"]
    if name in TRACED:
        assert res["heap_peak_device"] <= checks.HEAP_LIMIT
    else:
        assert res["heap_peak_device"] is None  # untraced: the run measured no heap


def test_fast_subset_covers_every_fault_phase_and_mode():
    scs = [s for s in faultmatrix.scenarios() if s.fast]
    assert {s.fault for s in scs} == {f[0] for f in faultmatrix.FAULTS} | {"http401"}
    assert {s.phase for s in scs} == set(faultmatrix.PHASES)
    assert {s.mode for s in scs} == set(faultmatrix.MODES)
    assert len(faultmatrix.scenarios()) == len(faultmatrix.FAULTS) * 8 + 2


def test_backoff_schedule_check_catches_an_off_schedule_retry():
    good = ["1 I net    retrying in 1100 ms", "2 I net    retrying in 1700 ms",
            "3 I state  CONNECTING -> READY on CONNECTED", "4 I net    retrying in 900 ms"]
    assert checks.backoff_problems(good) == []
    assert checks.backoff_problems(["retrying in 1000 ms", "retrying in 900 ms"])  # not doubled


def test_garbage_check_accepts_spliced_reply_and_rejects_noise():
    import numpy as np

    rng = np.random.default_rng(1)
    reply = rng.integers(-3000, 3000, 4000).astype(np.int16)
    reply[reply == 0] = 1
    silence = np.zeros(50, dtype=np.int16)
    # Pieces of the reply with a dropped delta in between (a splice) and silence around.
    played = np.concatenate([silence, reply[:1000], reply[1480:3000], silence, reply[3000:]])
    assert checks.unexplained(played, reply) == (0, None)
    noisy = played.copy()
    noisy[700:740] = rng.integers(-3000, 3000, 40)
    bad, first = checks.unexplained(noisy, reply)
    assert bad > 0 and 690 <= first <= 750
    assert checks.played_any(played, reply[1000:1480]) is False
    assert checks.played_any(played, reply[2000:2300]) is True


def test_the_subset_is_one_xdist_work_unit_and_other_tests_are_not():
    from conftest import ONE_WORKER_MODULES, xdist_scope

    ids = ["tests/test_fault_matrix.py::test_fault_scenario_recovers[%s]" % n
           for n in faultmatrix.FAST]
    assert {xdist_scope(i) for i in ids} == {"tests/test_fault_matrix.py"}
    other = "tests/test_sim_e2e.py::test_x[cpython]"
    assert xdist_scope(other) == other
    from conftest import LONGEST_FIRST

    for module in ONE_WORKER_MODULES + LONGEST_FIRST:
        assert os.path.exists(os.path.join(ROOT, module)), module
