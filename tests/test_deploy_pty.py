"""make deploy / mip against a MicroPython that speaks the raw REPL over a pseudo-terminal.

tools/rawrepl/ptyboard.py runs the official MicroPython WebAssembly build (tools/rawrepl/
board.mjs) behind /dev/pts/N. The real, pinned mpremote connects to it as to a USB board: the
deploy's probe runs on MicroPython, files are copied through the raw REPL, `reset` reboots it,
and boot really runs main.py. Its flash is a directory the tests inspect.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "rawrepl"))
from ptyboard import PtyBoard, available  # noqa: E402

from tools import deploy  # noqa: E402

MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")
TOKEN = "pat_PTY_TEST_TOKEN_must_never_leak_31"

pytestmark = [
    pytest.mark.skipif(available() is not None, reason=str(available())),
    pytest.mark.skipif(not os.path.exists(MPREMOTE), reason="pinned mpremote not in .venv"),
]

MAIN = """import config
cfg = config.load()
print("main.py says: board %s, mode %s" % (cfg["board"], cfg["mode"]))
import app.core
print("app.core.X =", app.core.X)
"""


@pytest.fixture
def cfg_file(tmp_path):
    good = json.load(open(os.path.join(ROOT, "tests", "data", "good_config.json")))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(dict(good, token=TOKEN, mode="free")))
    return str(path)


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "repo"
    files = {
        "firmware/boot.py": "print('boot.py ran')\n",
        "firmware/main.py": MAIN,
        "firmware/app/__init__.py": "",
        "firmware/app/core.py": "X = 1\n",
        "lib/pkg/__init__.py": "",
    }
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    # The real config module: main.py imports the compiled .mpy on the board (with the one
    # ConfigError class it raises, lib/cloud/errors.py).
    shutil.copy(os.path.join(ROOT, "firmware", "config.py"), src / "firmware" / "config.py")
    (src / "lib" / "cloud").mkdir()
    for name in ("__init__.py", "errors.py"):
        shutil.copy(os.path.join(ROOT, "lib", "cloud", name), src / "lib" / "cloud" / name)
    return src


def run_deploy(board, root, cfg, stage, *extra):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "deploy.py"), "--port", board.port,
         "--root", str(root), "--config", cfg, "--stage", str(stage), *extra],
        capture_output=True, text=True, timeout=300)
    assert TOKEN not in proc.stdout + proc.stderr
    return proc


def flash_tree(flash):
    out = {}
    for dirpath, _, names in os.walk(flash):
        for n in names:
            full = os.path.join(dirpath, n)
            out[os.path.relpath(full, flash)] = hashlib.sha256(open(full, "rb").read()).hexdigest()
    return out


def test_deploy_copies_changes_only_and_main_runs_after_reset(tmp_path, tree, cfg_file):
    flash, stage = tmp_path / "flash", tmp_path / "stage"
    with PtyBoard(str(flash)) as board:
        proc = run_deploy(board, tree, cfg_file, stage)
        assert proc.returncode == 0, proc.stderr
        assert "deploy: 10 of 10 files changed" in proc.stdout
        board.wait_for(b"app.core.X = 1", timeout=60)
        log = board.transcript()
        # Reset, boot.py, then main.py importing the deployed .mpy files and config.json.
        assert log.index(b"boot.py ran") < log.index(b"main.py says: board esp32s3_inmp441, "
                                                     b"mode free")
        files = flash_tree(flash)
        assert sorted(files) == sorted([
            "boot.py", "main.py", "config.mpy", "app/__init__.mpy", "app/core.mpy",
            "lib/pkg/__init__.mpy", "lib/cloud/__init__.mpy", "lib/cloud/errors.mpy",
            "certs/ca.pem", "config.json"])
        for dest, digest in files.items():
            local = os.path.join(str(stage), dest)
            if dest == "config.json":
                local = cfg_file
            elif dest == "certs/ca.pem":
                local = deploy.CA_BUNDLE
            assert digest == deploy.sha256_file(local), dest

        # Nothing changed: the probe runs on the board, nothing is copied, no reset.
        proc = run_deploy(board, tree, cfg_file, stage)
        assert proc.returncode == 0, proc.stderr
        assert "board is up to date" in proc.stdout

        # One source changes: exactly one file travels; the board runs the new code.
        (tree / "firmware" / "app" / "core.py").write_text("X = 2\n")
        mark = len(board.transcript())
        proc = run_deploy(board, tree, cfg_file, stage)
        assert proc.returncode == 0, proc.stderr
        assert "deploy: 1 of 10 files changed\n  app/core.mpy\n" in proc.stdout
        board.wait_for(b"app.core.X = 2", timeout=60, start=mark)


def test_src_then_mpy_leaves_no_shadowing_source(tmp_path, tree, cfg_file):
    flash = tmp_path / "flash"
    with PtyBoard(str(flash)) as board:
        assert run_deploy(board, tree, cfg_file, tmp_path / "s1", "--src").returncode == 0
        assert "app/core.py" in flash_tree(flash)
        assert run_deploy(board, tree, cfg_file, tmp_path / "s2").returncode == 0
        files = flash_tree(flash)
        assert "app/core.mpy" in files and "app/core.py" not in files
        assert "config.py" not in files and "main.py" in files


def test_real_tree_deploys_and_config_loads_on_the_board(tmp_path, cfg_file):
    flash = tmp_path / "flash"
    with PtyBoard(str(flash)) as board:
        proc = run_deploy(board, ROOT, cfg_file, tmp_path / "stage", "--no-reset")
        assert proc.returncode == 0, proc.stderr
        staged = len(list(deploy.cross_compile.device_files(ROOT))) + 2  # + CA, config.json
        assert "of %d files changed" % staged in proc.stdout
        out = subprocess.run(
            [MPREMOTE, "connect", board.port, "exec",
             "import config\nc = config.load()\nprint(c['board'], config.redacted(c)['token'])"],
            capture_output=True, text=True, timeout=60)
        assert out.stdout.split() == ["esp32s3_inmp441", "<redacted>"], out.stderr
        # `import main`: the real main.py runs on MicroPython; whatever the app does next
        # without I2S or Wi-Fi, it reports through the console, never with the token.
        mark = len(board.transcript())
        subprocess.run([MPREMOTE, "connect", board.port, "reset"], capture_output=True,
                       timeout=60)
        board.wait_for(b"SW_CPU_RESET", timeout=60, start=mark)
        booted = board.transcript().index(b"SW_CPU_RESET", mark)
        board.wait_for(b"MicroPython (WebAssembly)", timeout=60, start=booted)
        boot_log = board.transcript()[booted:].split(b"MicroPython (WebAssembly)")[0]
        print(boot_log.decode(errors="replace"))  # shown with -s: what main.py did
        assert b"main" in boot_log  # main.py's own lines, or its traceback naming main.py
        assert TOKEN.encode() not in board.transcript()


def test_mip_install_of_package_json_puts_lib_on_the_board(tmp_path):
    flash = tmp_path / "flash"
    with PtyBoard(str(flash)) as board:
        proc = subprocess.run(
            [MPREMOTE, "connect", board.port, "mip", "install",
             os.path.join(ROOT, "package.json")],
            capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(ROOT, "package.json")) as f:
        urls = json.load(f)["urls"]
    files = flash_tree(flash)
    for dest, src in urls:
        assert files.get("lib/" + dest) == deploy.sha256_file(os.path.join(ROOT, src)), dest
    assert len(files) == len(urls)
