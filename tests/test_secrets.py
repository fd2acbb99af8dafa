# A planted token must not leak: the simulator runs the real app against a fake cloud (its own
# process) that expects the token; every file the run writes (speaker WAV, session, report JSON,
# timeline PNG) and everything printed (the app's log with --verbose, the recorder, the fake
# cloud) is searched for it, raw and base64-encoded. The same for the paths where the token is
# refused: HTTP 401 at the upgrade, and error 4100 after the session opened.
import base64
import os
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLANTED = "pat_PLANTED_SECRET_9f3a"
NEEDLES = (PLANTED.encode(), base64.b64encode(PLANTED.encode()).rstrip(b"="),
           PLANTED.encode("utf-16-le"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cloud(token, *extra):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.cloud.fake_cloud", "--port", str(port), "--token", token,
         "--verbose", *extra], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("fake cloud did not start")


def run_sim(tmp_path, port, name):
    out = tmp_path / name
    cmd = [sys.executable, "-m", "tools.sim", "--url", "ws://127.0.0.1:%d" % port, "--token",
           PLANTED, "--bot-id", "7400000000000000000", "--verbose", "--out-dir", str(out),
           "--report-json", str(out / "report.json"), "--session-out", str(out / "session.jsonl"),
           "--timeline", str(out / "timeline.png"), "--duration", "6", "--press", "1",
           "--release", "3", "--allow-gaps"]  # a loaded host's gaps are not this test's point
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=120)
    return proc, out


def leaks(blobs):
    return [(where, needle) for where, data in blobs for needle in NEEDLES if needle in data]


def files_under(path):
    out = []
    for dirpath, _, names in os.walk(path):
        for name in names:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as f:
                out.append((full, f.read()))
    return out


@pytest.mark.parametrize("case", ["accepted", "http401", "error4100"])
def test_planted_token_appears_in_no_output(tmp_path, case):
    expected = PLANTED if case != "http401" else "pat_some_other_token"
    extra = ("--inject", "error:4100@connect") if case == "error4100" else ()
    cloud, port = start_cloud(expected, *extra)
    try:
        proc, out = run_sim(tmp_path, port, case)
    finally:
        cloud.terminate()
        cloud_out, _ = cloud.communicate(timeout=10)
    blobs = [("sim stdout", proc.stdout), ("sim stderr", proc.stderr),
             ("fake cloud output", cloud_out)] + files_under(out)
    names = {os.path.basename(p) for p, _ in files_under(out)}
    assert {"report.json", "session.jsonl", "timeline.png", "sim-speaker.wav"} <= names
    text = proc.stdout.decode()
    assert "state" in text  # the app's log really was printed (--verbose)
    if case == "accepted":
        assert proc.returncode == 0, text[-2000:]
    elif case == "http401":
        assert "HTTP 401" in text and proc.returncode == 1  # refused, and stays refused
    else:
        # Refused once (error 4100 -> ERROR with the exception text logged); the press
        # reconnects and the turn runs.
        assert "error 4100" in text and "-> ERROR" in text
    assert leaks(blobs) == []
