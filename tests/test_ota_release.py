"""OTA host side and glue: `make release`, the signing key `make configure` makes, the config keys,
`make deploy` taking a board back from an OTA version, the check_update tool, the boot check's
Wi-Fi bring-up. The fault table itself is tests/test_ota_faults.py."""

import asyncio
import hashlib
import json
import os
import stat
import subprocess
import sys

import config
import pytest

from tools import deploy, release
from tools.vhw.install import install
from tools.vhw.network import Scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "pat_OTA_RELEASE_TEST_TOKEN_never_shown_3"


def _good_cfg(**kw):
    with open(os.path.join(ROOT, "tests", "data", "good_config.json")) as f:
        cfg = json.load(f)
    cfg.update(kw)
    return cfg


def _run(args, cwd, env_extra=None):
    env = dict(os.environ, COZE_TOKEN=TOKEN, **(env_extra or {}))
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def configured(tmp_path_factory):
    """`make configure` (flag mode) in a fresh directory: config.json + the signing key."""
    top = tmp_path_factory.mktemp("release")
    proc = _run([os.path.join(ROOT, "tools", "configure.py"), "--out", "config.json",
                 "--wifi-ssid", "home", "--token-env", "COZE_TOKEN",
                 "--bot-id", "7450000000000000000", "--board", "esp32s3_inmp441",
                 "--ota-url", "https://updates.example/voice/"], top)
    assert proc.returncode == 0, proc.stderr
    return top, proc


def test_configure_makes_the_signing_key_once_and_gives_the_board_its_public_half(configured):
    top, proc = configured
    key = top / "ota-signing.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert "made the release signing key" in proc.stderr and "never commit it" in proc.stderr
    cfg = json.loads((top / "config.json").read_text())
    assert cfg["ota_key"] == release.public_hex(str(key))
    assert cfg["ota_url"] == "https://updates.example/voice/"
    pem = key.read_text()
    secret_line = [line for line in pem.splitlines() if "-----" not in line][0]
    assert secret_line not in proc.stdout + proc.stderr and TOKEN not in proc.stdout
    before = key.read_bytes()
    again = _run([os.path.join(ROOT, "tools", "configure.py"), "--out", "config.json",
                  "--mode", "free"], top)
    assert again.returncode == 0, again.stderr
    assert key.read_bytes() == before and "made the release signing key" not in again.stderr


def test_release_is_a_signed_folder_of_the_deployed_tree_without_the_boot_layer(configured):
    top, _ = configured
    proc = _run([os.path.join(ROOT, "tools", "release.py"), "--version", "2.0.1",
                 "--config", "config.json", "--out", str(top / "out")], top)
    assert proc.returncode == 0, proc.stderr
    assert "release: 2.0.1 for esp32s3_inmp441" in proc.stdout
    folder = top / "out" / "2.0.1"
    text = (folder / "manifest.json").read_text()
    doc = json.loads(text)  # one JSON array for any tool ...
    lines = text.splitlines(True)
    assert len(lines) == len(doc)  # ... with one element per line for the board
    sig, head, entries = doc[0], doc[1], doc[2:]
    assert head["ota"] == 1 and head["version"] == "2.0.1" and head["board"] == "esp32s3_inmp441"
    assert head["count"] == len(entries) and head["bytes"] == sum(e[1] for e in entries)
    assert head["mpy"] >> 10 == 10  # native code for xtensawin: the arch is pinned
    assert sorted(f[0] for f in head["fixed"]) == ["boot.py", "main.py", "otaboot.mpy"]
    paths = [e[0] for e in entries]
    assert "app/runner.mpy" in paths and "app/ota/check.mpy" in paths
    for absent in ("boot.py", "main.py", "otaboot.mpy", "config.json", "certs/ca.pem"):
        assert absent not in paths and not (folder / absent).exists()
    on_disk = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert on_disk == sorted(paths + ["manifest.json"])
    for path, size, sha in entries:
        data = (folder / path).read_bytes()
        assert len(data) == size and hashlib.sha256(data).hexdigest() == sha
    # The signature: Ed25519 over TAG + sha256(every byte after the first line), by the key
    # configure made, checked by the host library and by the board's own code.
    message = release.TAG + hashlib.sha256("".join(lines[1:]).encode()).digest()
    raw = bytes.fromhex(sig[len("ed25519:"):])
    release.load_key(str(top / "ota-signing.key")).public_key().verify(raw, message)
    from app.ota import ed25519

    public = bytes.fromhex(json.loads((top / "config.json").read_text())["ota_key"])
    assert ed25519.verify(public, message, raw)
    assert not ed25519.verify(public, message[:-1] + b"x", raw)


@pytest.mark.parametrize("args,line", [
    (["--version", "1.2"], "no signing key at"),
    (["--version", "v1"], "use dotted numbers"),
    (["--version", "1.0.0", "--board", "nope"], "unknown board 'nope'"),
    (["--version", "1.0.0", "--key", "config.json"], "is not an unencrypted PEM private key"),
])
def test_release_errors_say_what_to_do(tmp_path, args, line):
    (tmp_path / "config.json").write_text(json.dumps(_good_cfg()))
    proc = _run([os.path.join(ROOT, "tools", "release.py"), *args, "--out",
                 str(tmp_path / "out")], tmp_path)
    assert proc.returncode == 2 and line in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("keys,field,text", [
    ({"ota_url": "http://x/"}, "ota_url", "must start with https://"),
    ({"ota_url": "https://x/"}, "ota_key", "run `make configure`"),
    ({"ota_key": "AB" * 32}, "ota_key", "64 lowercase hex digits"),
    ({"ota_key": "ab" * 31}, "ota_key", "64 lowercase hex digits"),
    ({"ota_url": 5}, "ota_url", "must be a string"),
])
def test_config_ota_keys_are_checked(keys, field, text):
    with pytest.raises(config.ConfigError) as err:
        config.validate(_good_cfg(**keys))
    line = str(err.value)
    assert line.startswith("config.json: %s: " % field) and text in line, line


def test_config_ota_is_off_by_default_and_takes_a_url_and_key():
    assert config.validate(_good_cfg())["ota_url"] == ""
    cfg = config.validate(_good_cfg(ota_url="https://h/ota/", ota_key="ab" * 32))
    assert (cfg["ota_url"], cfg["ota_key"]) == ("https://h/ota/", "ab" * 32)


def test_deploy_removes_the_ota_versions_so_the_board_runs_what_it_was_given(
        tmp_path, monkeypatch, capsys):
    (tmp_path / "config.json").write_text(json.dumps(_good_cfg()))
    calls = []
    monkeypatch.setattr(deploy, "probe", lambda m, p, wanted, dirs: (
        calls.append(set(dirs)) or ({}, {"ota"})))
    monkeypatch.setattr(deploy.subprocess, "call", lambda argv: calls.append(argv) or 0)
    code = deploy.main(["--port", "fake", "--config", str(tmp_path / "config.json"),
                        "--src", "--stage", str(tmp_path / "stage"), "--ca", ""])
    assert code == 0, capsys.readouterr()
    assert "ota" in calls[0]
    argv = calls[-1]
    assert ["fs", "rm", "-r", ":ota"] == argv[argv.index("rm") - 1: argv.index("rm") + 3]
    assert argv[-1] == "reset"


class _App:
    def __init__(self, url):
        self.cfg = {"ota_url": url}
        self.audio = None
        self.lines = []
        self.log = self

    def info(self, tag, text):
        self.lines.append(text)


def test_check_update_tool_restarts_into_the_boot_check(monkeypatch):
    from app.ota import request

    assert "updates are off: set ota_url" in request.later(_App(""))
    resets = []

    class Machine:
        @staticmethod
        def reset():
            resets.append(1)

    monkeypatch.setitem(sys.modules, "machine", Machine)
    monkeypatch.setattr(request, "_SPEAK_MS", 0)
    app = _App("https://h/")

    async def ask():
        answer = request.later(app)
        for _ in range(100):
            if resets:
                break
            await asyncio.sleep(0.01)
        return answer

    assert "restarting now to check for an update" in asyncio.run(ask())
    assert resets == [1] and app.lines == ["restarting for the update check"]


def test_the_boot_check_joins_wifi_first_and_a_failed_join_is_one_line(tmp_path, monkeypatch,
                                                                        capsys):
    from app.ota import check

    monkeypatch.chdir(tmp_path)
    cfg = config.validate(_good_cfg(wifi_ssid="sim-wifi", wifi_password="wrong-password",
                                    ota_url="https://127.0.0.1:9/", ota_key="ab" * 32))
    hw = install(wifi=Scenario(ssid="sim-wifi", key="sim-password", join_ms=10))
    try:
        assert check.run(cfg, {"slot": "", "version": ""}) is False
        out = capsys.readouterr().out
        assert "no network (wrong Wi-Fi password" in out and "the next boot checks again" in out
        cfg["wifi_password"] = "sim-password"
        assert check.run(cfg, {"slot": "", "version": ""}) is False
        out = capsys.readouterr().out
        assert "connected, ip" in out and "connecting to 127.0.0.1:9 failed" in out, out
        assert "sim-password" not in out and "wrong-password" not in out
    finally:
        hw.uninstall()
