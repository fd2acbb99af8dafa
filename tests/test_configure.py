"""tools/configure.py: flag mode and interactive mode (on a real pseudo-terminal).

The interactive test runs the tool as the session leader of a pty, so getpass really turns
terminal echo off; everything the terminal shows is captured and must not contain the token.
"""

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "configure.py")
TOKEN = "pat_CONFIGURE_TEST_TOKEN_never_shown_77"
WIFI_PASSWORD = "wifi-secret-never-shown-99"


def run_flags(tmp_path, *flags, env_extra=None):
    env = dict(os.environ, COZE_TOKEN=TOKEN, WIFI_PW=WIFI_PASSWORD)
    env.update(env_extra or {})
    out = tmp_path / "config.json"
    proc = subprocess.run(
        [sys.executable, TOOL, "--out", str(out), *flags],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60,
    )
    return proc, out


FLAGS = ("--wifi-ssid", "home", "--wifi-password-env", "WIFI_PW", "--token-env", "COZE_TOKEN",
         "--bot-id", "7450000000000000000", "--board", "esp32_inmp441")


def test_flags_write_a_valid_private_file(tmp_path):
    proc, out = run_flags(tmp_path, *FLAGS, "--mode", "free", "--volume", "55",
                          "--mic-gate-while-speaking", "false")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(out.read_text())
    assert cfg["token"] == TOKEN and cfg["wifi_password"] == WIFI_PASSWORD
    assert (cfg["mode"], cfg["volume"], cfg["mic_gate_while_speaking"]) == ("free", 55, False)
    assert cfg["board"] == "esp32_inmp441" and cfg["base_url"] == "wss://ws.coze.cn"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "<redacted>" in proc.stdout and "make deploy" in proc.stdout
    for secret in (TOKEN, WIFI_PASSWORD):
        assert secret not in proc.stdout + proc.stderr


def test_rerun_keeps_existing_values(tmp_path):
    run_flags(tmp_path, *FLAGS)
    proc, out = run_flags(tmp_path, "--mode", "free", env_extra={"COZE_TOKEN": "unused"})
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(out.read_text())
    assert cfg["mode"] == "free" and cfg["token"] == TOKEN


def test_missing_token_names_the_flag(tmp_path):
    proc, out = run_flags(tmp_path, "--wifi-ssid", "home", "--board", "esp32_inmp441")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("config.json: token: is missing")
    assert "--token-env VAR" in proc.stderr
    assert not out.exists()


def test_bad_value_is_the_devices_one_line(tmp_path):
    proc, out = run_flags(tmp_path, *FLAGS, "--codec", "g711a", "--in-rate", "16000")
    assert proc.returncode == 2
    assert ("config.json: in_rate: codec g711a is always 8000 Hz; set in_rate to 8000 or"
            " remove it (flag: --in-rate)") in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    assert not out.exists()


def test_unset_env_var_is_reported_without_value(tmp_path):
    proc, _ = run_flags(tmp_path, *FLAGS[:-2], "--token-env", "NO_SUCH_VAR_XYZ")
    assert proc.returncode != 0
    assert "NO_SUCH_VAR_XYZ" in proc.stderr


class Terminal:
    """The tool on the slave side of a pty; answers are typed when a prompt appears."""

    def __init__(self, args, cwd):
        pid, fd = pty.fork()
        if pid == 0:  # child: the pty is its controlling terminal
            os.chdir(cwd)
            os.execv(sys.executable, [sys.executable, TOOL, *args])
        self.pid, self.fd, self.seen = pid, fd, b""

    def expect(self, text, timeout=20.0):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("waited for %r; terminal shows %r" % (text, self.seen[-300:]))
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError("tool exited; terminal shows %r" % self.seen[-300:])
                self.seen += chunk

    def type(self, line):
        os.write(self.fd, line.encode() + b"\r")

    def finish(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                self.seen += chunk
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        raise AssertionError("tool did not finish; terminal shows %r" % self.seen[-300:])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs a POSIX pty")
def test_interactive_prompts_and_hidden_secrets(tmp_path):
    term = Terminal(["--out", "config.json"], str(tmp_path))
    term.expect("Wi-Fi network name")
    term.type("home")
    term.expect("Wi-Fi password (not shown")
    term.type(WIFI_PASSWORD)
    term.expect("Cloud: coze or qwen [coze]")
    term.type("")
    term.expect("Token:")
    term.type(TOKEN)
    term.expect("Coze bot id")
    term.type("my-bot")  # wrong on purpose: the device's message, then the same question again
    term.expect("config.json: bot_id: must be only digits")
    term.expect("Coze bot id", timeout=5)
    term.type("7450000000000000000")
    term.expect("Board (")
    term.type("esp32s3_inmp441")
    term.expect("Talk mode")
    term.type("free")
    code = term.finish()
    transcript = term.seen.decode(errors="replace")
    assert code == 0, transcript
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["token"] == TOKEN and cfg["wifi_password"] == WIFI_PASSWORD
    assert cfg["mode"] == "free" and cfg["bot_id"] == "7450000000000000000"
    # Echo was off while the secrets were typed, and no output repeats them.
    assert TOKEN not in transcript and WIFI_PASSWORD not in transcript
    assert "home" in transcript  # ordinary answers do echo: the capture itself works
