"""firmware/main.py: crash counting, the safe mode after a crash loop, and the config-error path.

main.py runs as on the board (it calls run() at import), with the virtual machine installed and
the working directory standing in for the board's filesystem."""

import os
import pathlib
import runpy

import pytest

from tools.vhw.install import install
from tools.vhw.machine import MachineReset

MAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware",
                    "main.py")
GOOD = pathlib.Path(__file__).parent / "data" / "good_config.json"


@pytest.fixture
def board(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hw = install()
    yield tmp_path, hw
    hw.uninstall()


def test_a_config_setup_mode_cannot_fix_explains_and_returns_to_the_repl(board, capsys):
    # (A missing config.json starts setup mode instead: tests/test_setup_entry.py.)
    path, hw = board
    bad = GOOD.read_text().replace('"board"', '"volume": 500, "board"')
    (path / "config.json").write_text(bad)
    runpy.run_path(MAIN)
    out = capsys.readouterr().out
    assert "volume: must be from 0 to 100" in out
    assert not (path / "crashes.txt").exists()
    assert hw.machine.resets == []


def test_a_crash_is_counted_and_resets(board, monkeypatch, capsys):
    path, hw = board
    from app import runner

    async def broken(**kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(runner, "main", broken)
    (path / "config.json").write_text(GOOD.read_text())
    (path / "crashes.txt").write_text("1")
    monkeypatch.setattr("time.sleep_ms", lambda ms: None)
    with pytest.raises(MachineReset):
        runpy.run_path(MAIN)
    assert (path / "crashes.txt").read_text() == "2"
    assert "the app crashed (2 in a row)" in capsys.readouterr().out


def test_crash_loop_enters_safe_mode(board, monkeypatch, capsys):
    path, hw = board
    from app import runner

    started = []
    monkeypatch.setattr(runner, "main", lambda **kw: started.append(kw))
    (path / "crashes.txt").write_text("3")
    runpy.run_path(MAIN)
    assert started == []
    assert "safe mode after 3 crashes" in capsys.readouterr().out
    assert hw.machine.resets == []
