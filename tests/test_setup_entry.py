"""The three ways into setup mode, through firmware/main.py as the board runs it, and the
setup modules' host-side pieces (names, form -> config, the page).

main.py runs as on the board (runpy, with the virtual machine installed and the working folder
standing in for the board's filesystem); portal.run is replaced by a recorder, so no test here
binds a socket.
"""

import asyncio
import json
import os
import pathlib
import runpy
import types

import pytest

from tools.vhw.install import install
from tools.vhw.machine import MachineReset
from tools.vhw.network import STAT_WRONG_PASSWORD, Scenario

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAIN = str(ROOT / "firmware" / "main.py")
GOOD = json.loads((ROOT / "tests" / "data" / "good_config.json").read_text())
SECRETS = (GOOD["token"], GOOD["wifi_password"])


@pytest.fixture
def board(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hw = install()
    from app import runner
    from app.setup import portal

    calls = types.SimpleNamespace(setup=[], app=[])

    async def fake_portal(reason, open_ap=False, **kw):
        calls.setup.append((reason, open_ap))
        return "saved"

    async def fake_app(**kw):
        calls.app.append(kw)

    monkeypatch.setattr(portal, "run", fake_portal)
    monkeypatch.setattr(runner, "main", fake_app)
    yield tmp_path, hw, calls
    hw.uninstall()


def write_config(path, **changes):
    cfg = dict(GOOD, **changes)
    for key in [k for k, v in changes.items() if v is None]:
        cfg.pop(key)
    (path / "config.json").write_text(json.dumps(cfg))


def boot(hw):
    """Run main.py; True when it ended in machine.reset() (setup mode always does)."""
    try:
        runpy.run_path(MAIN)
    except MachineReset:
        return True
    return False


@pytest.mark.parametrize("case", ["missing", "not-json", "no-token", "no-wifi", "bad-board"])
def test_no_usable_config_starts_setup_mode_then_restarts(board, case, capsys):
    path, hw, calls = board
    if case == "not-json":
        (path / "config.json").write_text("{not json")
    elif case == "no-token":
        write_config(path, token=None)
    elif case == "no-wifi":
        write_config(path, wifi_ssid="")
    elif case == "bad-board":
        write_config(path, board="esp8266")
    assert boot(hw)
    assert calls.setup == [("config", False)] and calls.app == []
    assert "setup mode ended (saved): restarting" in capsys.readouterr().out


def test_a_good_config_starts_the_app_with_the_wifi_hook(board):
    path, hw, calls = board
    write_config(path)
    assert not boot(hw)
    assert calls.setup == [] and len(calls.app) == 1
    assert callable(calls.app[0]["on_wifi_failed"])


def _fake_clock(monkeypatch, hw, release_at_ms):
    # main.py's hold loop on a clock that moves only when it sleeps: no real 5 s waits.
    import time

    now = [0]
    pin = hw.machine.Pin(0)
    pin.press()

    def sleep_ms(ms):
        now[0] += ms
        if release_at_ms is not None and now[0] >= release_at_ms:
            pin.release()

    monkeypatch.setattr(time, "ticks_ms", lambda: now[0])
    monkeypatch.setattr(time, "sleep_ms", sleep_ms)


@pytest.mark.parametrize("release_ms,expected", [
    (2000, None), (6000, ("button", False)), (None, ("button", True))],
    ids=["short-press-runs-the-app", "5s-setup", "10s-open-access-point"])
def test_the_button_held_at_power_on(board, monkeypatch, capsys, release_ms, expected):
    path, hw, calls = board
    write_config(path)
    _fake_clock(monkeypatch, hw, release_ms)
    reset = boot(hw)
    assert calls.setup == ([expected] if expected else [])
    assert reset == (expected is not None) and len(calls.app) == (0 if expected else 1)
    out = capsys.readouterr().out
    assert "button held: keep holding 5 s for setup mode" in out


def test_wifi_failing_restarts_into_setup_mode_keeping_the_config(board, capsys):
    path, hw, calls = board
    write_config(path)
    assert not boot(hw)
    hook = calls.app[0]["on_wifi_failed"]
    for failures in range(1, 5):
        hook(failures)  # a few failures: the app keeps trying
    assert not (path / "setup.txt").exists() and hw.machine.resets == []
    with pytest.raises(MachineReset):
        hook(5)
    assert (path / "setup.txt").exists()
    assert "Wi-Fi failed 5 times in a row: restarting into setup mode" in capsys.readouterr().out
    saved = (path / "config.json").read_text()
    assert boot(hw)  # the next boot: setup mode, once; the old config untouched
    assert calls.setup == [("wifi", False)]
    assert not (path / "setup.txt").exists() and (path / "config.json").read_text() == saved
    assert not boot(hw) and len(calls.app) == 2  # and then the app again


def test_the_controller_counts_failed_joins_and_a_join_resets_the_count():
    from app import state as S
    from app.controller import Controller

    hw = install(wifi=Scenario(join_ms=1, fail=STAT_WRONG_PASSWORD))
    try:
        seen = []
        events = []
        app = types.SimpleNamespace(
            network=hw.network, ntptime=None, cfg={"wifi_ssid": "sim-wifi", "wifi_password":
                                                   "sim-password", "base_url": "ws://x"},
            log=types.SimpleNamespace(info=lambda *a: None, error=lambda *a: None),
            queue=types.SimpleNamespace(post=events.append), wifi_failures=0,
            on_wifi_failed=seen.append)
        for _ in range(3):
            asyncio.run(Controller._wifi(app))
        assert seen == [1, 2, 3] and events == [S.E_WIFI_FAILED] * 3
        hw.network.scenario.fail = None
        asyncio.run(Controller._wifi(app))
        assert app.wifi_failures == 0 and events[-1] == S.E_WIFI_UP and seen == [1, 2, 3]
    finally:
        hw.uninstall()


# ---- the setup modules' pure parts ----------------------------------------------------------

def test_access_point_name_and_password_come_from_the_unique_id():
    from app.setup import ident

    uid = b"\x24\x0a\xc4\x12\x34\x56"
    assert ident.ssid(uid) == "voice-3456"
    pw = ident.password(uid)
    assert len(pw) == 10 and pw == ident.password(bytes(uid))
    assert not set(pw) & set("lo01") and pw != ident.password(b"\x24\x0a\xc4\x12\x34\x57")


def test_configure_prints_the_same_access_point(tmp_path, capsys):
    from app.setup import ident

    from tools import configure

    out = tmp_path / "config.json"
    env = {"T": GOOD["token"]}
    os.environ.update(env)
    try:
        code = configure.main(["--out", str(out), "--non-interactive", "--token-env", "T",
                               "--wifi-ssid", "home", "--bot-id", GOOD["bot_id"],
                               "--board", "esp32s3_inmp441", "--unique-id", "240ac4123456"])
    finally:
        os.environ.pop("T")
    assert code == 0
    text = capsys.readouterr().out
    uid = bytes.fromhex("240ac4123456")
    assert "voice-3456" in text and ident.password(uid) in text
    assert GOOD["token"] not in text


def test_configure_without_a_unique_id_says_where_to_read_it(tmp_path, capsys):
    from tools import configure

    os.environ["T"] = GOOD["token"]
    try:
        configure.main(["--out", str(tmp_path / "c.json"), "--non-interactive", "--token-env",
                        "T", "--wifi-ssid", "home", "--bot-id", GOOD["bot_id"], "--board",
                        "esp32s3_inmp441"])
    finally:
        os.environ.pop("T")
    assert "--unique-id" in capsys.readouterr().out


def test_form_merge_keeps_saved_secrets_and_reports_every_wrong_field():
    from app.setup import submit

    base = dict(GOOD, base_url="wss://ws.coze.cn")
    kept = submit.kept_from(base)
    form = {"wifi_ssid": "home", "wifi_password": "", "cloud": "qwen", "token": "",
            "bot_id": " 12 ", "mode": "free", "board": "esp32_inmp441"}
    raw = submit.merge(base, form, kept)
    assert raw["token"] == GOOD["token"] and raw["wifi_password"] == GOOD["wifi_password"]
    assert raw["bot_id"] == "12" and "base_url" not in raw  # a default URL follows the cloud
    cfg, errors, general = submit.check(raw)
    assert errors == {} and general is None and cfg["base_url"].startswith("wss://dashscope")
    # A new network: an empty password is an open network, not the old one's.
    raw = submit.merge(base, dict(form, wifi_ssid="cafe"), kept)
    assert raw["wifi_password"] == ""
    bad = dict(form, token="Bearer x", board="esp8266", wifi_ssid="", cloud="coze", bot_id="")
    cfg, errors, general = submit.check(submit.merge({}, bad, {}))
    assert cfg is None and general is None
    assert sorted(errors) == ["board", "bot_id", "token", "wifi_ssid"]
    assert "Bearer" in errors["token"] and "esp8266" in errors["board"]
    for text in errors.values():
        assert not any(s in text for s in SECRETS)


def test_an_error_the_form_cannot_show_is_named_at_the_top():
    from app.setup import submit

    cfg, errors, general = submit.check(dict(GOOD, volume=500))
    assert cfg is None and errors == {} and "volume" in general


def test_describe_reads_field_or_key_or_the_message():
    from app.setup import submit

    class WithField(Exception):
        field = "token"

    assert submit.describe(WithField("config.json: token: is missing")) == ("token", "is missing")
    assert submit.describe(ValueError("config.json: board: is missing; set it")) == (
        "board", "is missing; set it")
    assert submit.describe(ValueError("config.json: not found at x"))[0] is None


def test_the_page_never_carries_a_secret_and_escapes_what_it_echoes():
    from app.setup import page

    html = page.form("voice-3456", dict(GOOD, wifi_ssid='<b>"x"</b>'), ["<net>"],
                     errors={"token": "got '<script>'"}, kept=("token",))
    assert not any(s in html for s in SECRETS)
    assert "<script>" not in html and "&lt;net&gt;" in html and "&lt;b&gt;" in html
    assert 'type="password" id="token"' in html and "saved; leave empty to keep it" in html


def test_the_write_is_atomic(tmp_path, monkeypatch):
    from app.setup import submit

    path = str(tmp_path / "config.json")
    (tmp_path / "config.json").write_text('{"old": 1}')
    renames = []
    real = os.rename

    def rename(a, b):
        renames.append((a, b))
        assert json.loads(pathlib.Path(a).read_text()) == {"new": 2}  # whole before the swap
        assert json.loads(pathlib.Path(b).read_text()) == {"old": 1}
        real(a, b)

    monkeypatch.setattr(os, "rename", rename)
    submit.write({"new": 2}, path)
    assert renames == [(path + ".tmp", path)]
    assert json.loads(pathlib.Path(path).read_text()) == {"new": 2}


def test_the_access_point_on_virtual_hardware():
    from app.setup import portal

    hw = install()
    try:
        net = hw.network
        ap = portal.start_ap(net, "voice-3456", "37kzqgm3wu", False)
        assert ap.active() and ap.ifconfig()[0] == "127.0.0.1"
        assert ap.config("ssid") == "voice-3456" and ap.config("security") == net.AUTH_WPA2_PSK
        open_ap = portal.start_ap(net, "voice-3456", None, True)
        assert open_ap.config("security") == net.AUTH_OPEN
        ap.config(essid="x", password="12345678", authmode=net.AUTH_WPA2_PSK)  # old names too
        with pytest.raises(OSError):
            ap.config(key="short", security=net.AUTH_WPA2_PSK)  # WPA2 needs 8 characters
        with pytest.raises(ValueError):
            net.WLAN(net.STA_IF).config(essid="x")  # the station keeps its own rules
        assert portal.scan(net) == ["sim-wifi"] and not net.WLAN(net.STA_IF).active()
    finally:
        hw.uninstall()
