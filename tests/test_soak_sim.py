# The simulator soak, short: 5 free-talk turns of the real app on virtual hardware against the
# fake cloud (tools/soak.py; `python -m tools.soak` runs 50). Every turn must be answered, nothing
# may crash, the speaker plays only reply audio, and the device heap (tracemalloc, lib/ +
# firmware/) before turn 5 is within tools.soak.GROWTH_LIMIT of the one before turn 2.
import subprocess
import sys

from tools.fault.driver import ROOT


def test_five_free_talk_turns():
    # Its own process: the simulator patches sys.modules and tracemalloc must see one app only.
    proc = subprocess.run([sys.executable, "-m", "tools.soak", "--turns", "5", "--out",
                           "out/soak-5.json"], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=240)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "soak: ok" in proc.stdout
