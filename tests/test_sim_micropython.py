"""`python -m tools.sim --runtime micropython`: the deployed firmware in the MicroPython unix port.

The scenarios themselves run under both runtimes in test_sim_e2e.py (and the recorded sessions in
test_sessions.py); this module pins what is particular to the device process: that it really is
MicroPython running the .mpy tree with native viper kernels, that the command's interface and
exit codes are those of the CPython runtime (the refused-token case runs under both in
test_sim_e2e.py), that a device that runs out of heap fails the run with one line saying so, and
that it talks wss:// through MicroPython's own ssl.
"""

import json
import os
import subprocess
import sys

import pytest

from tools.sim import mpruntime
from tools.sim.harness import ROOT
from tools.sim.record_sessions import mic_clip, question

_KERNELS = ("websock.kernels", "audio.g711", "audio.pcm", "b64", "cloud.jscan")


@pytest.fixture(scope="module")
def ptt_clip(tmp_path_factory):
    return mic_clip(str(tmp_path_factory.mktemp("clips") / "ptt.wav"), 2.5, (0.5, question()))


def _cli(*args, timeout=90):
    env = dict(os.environ)
    env.pop("COZE_TOKEN", None)
    env.pop("COZE_BOT_ID", None)
    return subprocess.run([sys.executable, "-m", "tools.sim", "--runtime", "micropython", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_deployed_tree_is_mpy_as_make_deploy_stages_it():
    tree = mpruntime.deployed_tree()
    names = []
    for dirpath, _, files in os.walk(tree):
        names += [os.path.relpath(os.path.join(dirpath, f), tree) for f in files]
    assert "lib/websock/client.mpy" in names and "app/controller.mpy" in names
    # Only what the firmware runs by name stays source (tools/deploy.py SOURCE_ONLY).
    assert sorted(n for n in names if n.endswith(".py")) == ["boot.py", "main.py"]
    with open(os.path.join(tree, "lib", "audio", "g711_viper.mpy"), "rb") as f:
        header = f.read(4)
    assert header[0:1] == b"M" and header[2] >> 2 == 2, "not an x64 native .mpy: %r" % header


def test_the_command_runs_the_firmware_in_micropython_with_native_kernels(ptt_clip, tmp_path):
    p = _cli("--mic", ptt_clip, "--press", "0.45", "--release", "1.8", "--allow-gaps",
             "--out-dir", str(tmp_path))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "runtime micropython" in p.stdout and p.stdout.rstrip().endswith("sim: ok")
    with open(tmp_path / "sim-report.json") as f:
        rep = json.load(f)
    assert rep["ok"] is True and rep["turns"] == 1 and rep["runtime"] == "micropython"
    # Real time: how much silence a busy host inserts, and whose it was, is the gap report's
    # and make bench's business (reply_gap_app_ms_24k_micropython), not a pass/fail figure.
    assert isinstance(rep["gaps"], list)
    impl = rep["sys_implementation"]
    assert impl["name"] == "micropython" and impl["version"][:2] == [1, 29], impl
    kernels = rep["device"]["kernels"]
    assert sorted(kernels) == sorted(_KERNELS), kernels
    for name, k in kernels.items():
        assert k == {"kernel": "viper", "native": True}, (name, k)
    assert rep["device"]["wdt_missed"] == 0


def test_a_device_that_runs_out_of_heap_fails_the_run_with_one_line(ptt_clip, tmp_path):
    # 120 KB at 8-byte pointers cannot hold the app's code: the run must fail, and say why.
    p = _cli("--mic", ptt_clip, "--press", "0.45", "--release", "1.8", "--heap-kb", "120",
             "--out-dir", str(tmp_path))
    assert p.returncode == 1, p.stdout[-2000:]
    failed = [line for line in p.stdout.splitlines() if line.startswith("sim: FAILED")]
    assert len(failed) == 1 and "ran out of heap" in failed[0] and "--heap-kb" in failed[0]


def test_the_command_talks_wss_with_a_ca_made_for_the_run(ptt_clip, tmp_path):
    # --tls: the recorder serves wss:// with a certificate of a CA made now; the device loads
    # that CA through ca_file, so MicroPython's own ssl (mbedTLS) verifies the link.
    p = _cli("--tls", "--mic", ptt_clip, "--press", "0.45", "--release", "1.8", "--allow-gaps",
             "--out-dir", str(tmp_path))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    with open(tmp_path / "sim-session.jsonl") as f:
        assert "conversation.chat.completed" in f.read()
