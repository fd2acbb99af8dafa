# The 500-turn push-to-talk soak of tests/mp/test_soak_ptt.py on CPython, where the retained heap
# can be measured exactly: tracemalloc's current size after gc.collect() at turn 500 must equal
# the one at turn 10 within HEAP_SLACK bytes (the MicroPython tier asserts the allocation per turn;
# see its header for why it cannot assert retention). The curve is printed (pytest -s).
import array
import gc
import importlib.util
import os
import sys
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _sub in ("firmware", "lib"):  # ahead of tools/, which some test modules put first
    if os.path.join(ROOT, _sub) in sys.path:
        sys.path.remove(os.path.join(ROOT, _sub))
    sys.path.insert(0, os.path.join(ROOT, _sub))
if os.path.join(ROOT, "tools", "mptest") not in sys.path:
    sys.path.append(os.path.join(ROOT, "tools", "mptest"))  # mptest, which the module imports
_spec = importlib.util.spec_from_file_location(
    "mp_soak_ptt", os.path.join(ROOT, "tests", "mp", "test_soak_ptt.py"))
soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak)


def test_500_ptt_turns_retain_no_heap():
    parts = soak.make_sans_io()
    # Preallocated, so recording the curve adds nothing to what is traced.
    heap = array.array("q", bytes(8 * (soak.TURNS // 10)))
    tracemalloc.start(1)
    try:
        for turn in range(1, soak.TURNS + 1):
            soak._turn_sans_io(*parts)
            if turn % 10 == 0:
                gc.collect()
                heap[turn // 10 - 1] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    curve = [(10 * (i + 1), b) for i, b in enumerate(heap)]
    print("soak retained heap (turn:bytes traced after gc.collect):")
    print(" ".join("%d:%d" % p for p in curve))
    growth = curve[-1][1] - curve[0][1]
    assert parts[2].turn == soak.TURNS
    assert abs(growth) <= soak.HEAP_SLACK, "heap grew %d bytes from turn 10 to 500" % growth
