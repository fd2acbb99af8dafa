"""tools/deploy.py without a board: a stand-in mpremote ($MPREMOTE) over a directory.

The stand-in records every invocation and implements only the commands deploy uses, against a
directory that plays the board's filesystem: `connect PORT`, `exec CODE` (the probe really runs,
under CPython, with the directory as cwd), `fs mkdir` (fails if the directory exists, like the
board), `fs cp -f` (fails if the parent is missing), `fs rm`, `mip install`, `reset`. Anything
else fails. Tests assert the exact commands and the changed-only behaviour.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from tools import deploy  # noqa: E402

TOKEN = "pat_DEPLOY_TEST_TOKEN_never_on_a_command_line_5"

FAKE = r'''#!%s
import contextlib, io, json, os, shutil, sys
root = os.environ["FAKE_DEVICE"]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
def fail(msg):
    print("mpremote: " + msg, file=sys.stderr)
    sys.exit(1)
def local(remote):
    if not remote.startswith(":"):
        fail("expected a :remote path, got " + remote)
    return os.path.join(root, remote[1:])
argv = sys.argv[1:]
if argv[:1] != ["connect"] or len(argv) < 3:
    fail("expected connect PORT ...")
cmds, cur = [], []
for a in argv[2:]:
    if a == "+":
        cmds.append(cur)
        cur = []
    else:
        cur.append(a)
cmds.append(cur)
for cmd in cmds:
    if cmd[:1] == ["exec"] and len(cmd) == 2:
        here = os.getcwd()
        os.chdir(root)
        try:
            exec(cmd[1], {"__name__": "__main__"})
        finally:
            os.chdir(here)
    elif cmd[:2] == ["fs", "mkdir"] and len(cmd) == 3:
        path = local(cmd[2])
        if os.path.exists(path):
            fail("mkdir: File exists")
        os.mkdir(path)
    elif cmd[:3] == ["fs", "cp", "-f"] and len(cmd) == 5:
        dst = local(cmd[4])
        if not os.path.isdir(os.path.dirname(dst)):
            fail("cp: No such file or directory")
        shutil.copyfile(cmd[3], dst)
    elif cmd[:2] == ["fs", "rm"] and len(cmd) == 3:
        os.remove(local(cmd[2]))
    elif cmd[:2] == ["mip", "install"] and len(cmd) == 3:
        os.makedirs(os.path.join(root, "lib"), exist_ok=True)
        with open(os.path.join(root, "lib", cmd[2] + ".mpy"), "wb") as f:
            f.write(b"M")
    elif cmd == ["reset"]:
        with open(os.environ["FAKE_LOG"] + ".resets", "a") as f:
            f.write("reset\n")
    else:
        fail("unsupported command: %%r" %% cmd)
'''

TREE = {
    "firmware/boot.py": "# boot\n",
    "firmware/main.py": "import app.core\n",
    "firmware/app/__init__.py": "",
    "firmware/app/core.py": "X = 1\n",
    "lib/pkg/__init__.py": "",
    "lib/pkg/mod.py": "def f():\n    return 2\n",
    "boards/__init__.py": "KNOWN = ('esp32s3_inmp441',)\n",
    "boards/esp32s3_inmp441.py": "PINS = {}\n",
}


@pytest.fixture
def rig(tmp_path, monkeypatch):
    src = tmp_path / "repo"
    for rel, text in TREE.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    board = tmp_path / "board"
    board.mkdir()
    fake = tmp_path / "mpremote"
    fake.write_text(FAKE % sys.executable)
    fake.chmod(0o755)
    log = tmp_path / "mpremote.jsonl"
    monkeypatch.setenv("MPREMOTE", str(fake))
    monkeypatch.setenv("FAKE_DEVICE", str(board))
    monkeypatch.setenv("FAKE_LOG", str(log))
    good = json.load(open(os.path.join(ROOT, "tests", "data", "good_config.json")))
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(dict(good, token=TOKEN)))

    class Rig:
        def __init__(self):
            self.src, self.board, self.cfg = src, board, cfg

        def deploy(self, *extra, config=True):
            args = ["--port", "/dev/ttyFAKE", "--root", str(src),
                    "--config", str(cfg) if config else str(tmp_path / "absent.json"), *extra]
            code = deploy.main(args)
            calls = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
            log.unlink(missing_ok=True)
            return code, calls

        def resets(self):
            path = str(log) + ".resets"
            return len(open(path).read().split()) if os.path.exists(path) else 0

        def tree(self):
            out = {}
            for dirpath, _, names in os.walk(board):
                for n in names:
                    full = os.path.join(dirpath, n)
                    out[os.path.relpath(full, board)] = open(full, "rb").read()
            return out

    return Rig()


def copies(calls):
    return [c[3:] for call in calls for c in split(call) if c[:2] == ["fs", "cp"]]


def split(call):
    cmds, cur = [], []
    for a in call[2:]:
        if a == "+":
            cmds.append(cur)
            cur = []
        else:
            cur.append(a)
    return cmds + [cur]


def test_first_deploy_copies_everything_in_board_layout(rig, capsys):
    code, calls = rig.deploy()
    out = capsys.readouterr()
    assert code == 0, out.err
    assert len(calls) == 2  # one probe, one chained copy
    assert calls[0][:3] == ["connect", "/dev/ttyFAKE", "exec"]
    stage = os.path.join(str(rig.src), "out", "deploy", "mpy")
    assert split(calls[1]) == [
        ["fs", "mkdir", ":app"],
        ["fs", "cp", "-f", os.path.join(stage, "app/__init__.mpy"), ":app/__init__.mpy"],
        ["fs", "cp", "-f", os.path.join(stage, "app/core.mpy"), ":app/core.mpy"],
        ["fs", "mkdir", ":boards"],
        ["fs", "cp", "-f", os.path.join(stage, "boards/__init__.mpy"), ":boards/__init__.mpy"],
        ["fs", "cp", "-f", os.path.join(stage, "boards/esp32s3_inmp441.mpy"),
         ":boards/esp32s3_inmp441.mpy"],
        ["fs", "cp", "-f", os.path.join(stage, "boot.py"), ":boot.py"],
        ["fs", "mkdir", ":certs"],
        ["fs", "cp", "-f", deploy.CA_BUNDLE, ":certs/ca.pem"],
        ["fs", "cp", "-f", str(rig.cfg), ":config.json"],
        ["fs", "mkdir", ":lib"],
        ["fs", "mkdir", ":lib/pkg"],
        ["fs", "cp", "-f", os.path.join(stage, "lib/pkg/__init__.mpy"), ":lib/pkg/__init__.mpy"],
        ["fs", "cp", "-f", os.path.join(stage, "lib/pkg/mod.mpy"), ":lib/pkg/mod.mpy"],
        ["fs", "cp", "-f", os.path.join(stage, "main.py"), ":main.py"],
        ["reset"],
    ]
    tree = rig.tree()
    assert sorted(tree) == sorted([
        "app/__init__.mpy", "app/core.mpy", "boot.py", "main.py", "boards/__init__.mpy",
        "boards/esp32s3_inmp441.mpy", "certs/ca.pem", "config.json", "lib/pkg/__init__.mpy",
        "lib/pkg/mod.mpy"])
    assert tree["lib/pkg/mod.mpy"][:1] == b"M"  # a real .mpy from mpy-cross
    assert tree["main.py"] == b"import app.core\n"
    assert rig.resets() == 1
    assert TOKEN not in out.out + out.err + json.dumps(calls)


def test_second_deploy_changes_nothing_and_does_not_reset(rig, capsys):
    rig.deploy()
    code, calls = rig.deploy()
    assert code == 0
    assert len(calls) == 1 and calls[0][2] == "exec"  # the probe only
    assert rig.resets() == 1
    assert "board is up to date" in capsys.readouterr().out


def test_only_the_changed_file_is_copied(rig):
    rig.deploy()
    (rig.src / "lib" / "pkg" / "mod.py").write_text("def f():\n    return 3\n")
    code, calls = rig.deploy()
    assert code == 0
    stage = os.path.join(str(rig.src), "out", "deploy", "mpy")
    assert split(calls[1]) == [
        ["fs", "cp", "-f", os.path.join(stage, "lib/pkg/mod.mpy"), ":lib/pkg/mod.mpy"],
        ["reset"],
    ]


def test_board_is_the_truth_hand_edited_file_is_restored(rig):
    rig.deploy()
    (rig.board / "main.py").write_text("print('edited on the board')\n")
    (rig.board / "certs" / "ca.pem").unlink()
    code, calls = rig.deploy()
    assert [c[-1] for c in copies(calls)] == [":certs/ca.pem", ":main.py"]
    assert rig.tree()["main.py"] == b"import app.core\n"


def test_src_then_mpy_removes_the_shadowing_variant(rig):
    code, calls = rig.deploy("--src")
    assert code == 0
    tree = rig.tree()
    assert "lib/pkg/mod.py" in tree and "lib/pkg/mod.mpy" not in tree
    code, calls = rig.deploy()
    cmds = split(calls[1])
    assert ["fs", "rm", ":lib/pkg/mod.py"] in cmds and ["fs", "rm", ":app/core.py"] in cmds
    assert ["fs", "rm", ":main.py"] not in cmds  # main.py stays source in both modes
    tree = rig.tree()
    assert "lib/pkg/mod.mpy" in tree and "lib/pkg/mod.py" not in tree
    assert not any(p.endswith(".py") for p in tree if p not in ("boot.py", "main.py"))


def test_missing_mip_package_is_installed_once(rig, monkeypatch):
    monkeypatch.setattr(deploy, "mip_packages", lambda: ["logging"])
    code, calls = rig.deploy()
    assert split(calls[1])[-2:] == [["mip", "install", "logging"], ["reset"]]
    code, calls = rig.deploy()
    assert len(calls) == 1  # probe saw lib/logging.mpy: nothing to do


def test_bad_config_stops_before_touching_the_board(rig, capsys):
    rig.cfg.write_text(json.dumps({"wifi_ssid": "home", "token": TOKEN, "board": "esp32"}))
    code, calls = rig.deploy()
    err = capsys.readouterr().err
    assert code == 2 and calls == []
    assert err.startswith("deploy: config.json: board: must be one of ")
    assert TOKEN not in err


def test_board_mismatch_and_no_config(rig, capsys):
    code, calls = rig.deploy("--board", "esp32_inmp441")
    assert code == 2 and calls == []
    assert "BOARD=esp32_inmp441 but" in capsys.readouterr().err
    code, calls = rig.deploy(config=False)
    assert code == 0
    assert ":config.json" not in json.dumps(calls)
    assert "run `make configure`" in capsys.readouterr().out


def test_unreachable_board_is_one_clear_error(rig, monkeypatch, capsys):
    monkeypatch.setenv("MPREMOTE", "/bin/false")
    code, calls = rig.deploy()
    assert code == 2
    assert "could not read the board's files over /dev/ttyFAKE" in capsys.readouterr().err


def test_real_repo_stages_every_device_file(tmp_path, monkeypatch):
    # Stage the real tree (to a temp copy's out/ dir) and check the mapping covers every file.
    for top in ("firmware", "lib", "boards"):
        shutil.copytree(os.path.join(ROOT, top), tmp_path / top,
                        ignore=shutil.ignore_patterns("__pycache__"))
    # Source mode: the mapping is the point here (the cross-compile tier compiles every file).
    files = deploy.stage(str(tmp_path), str(tmp_path / "out"), True, "xtensawin",
                         deploy.CA_BUNDLE, None)
    sources = list(deploy.cross_compile.device_files(str(tmp_path)))
    assert len(files) == len(sources) + 1  # + the CA bundle
    for rel in sources:
        dest = deploy.device_path(rel)
        assert dest in files, rel
        top = rel.split(os.sep)[0]
        assert dest.startswith(top + "/") if top != "firmware" else not dest.startswith("fir")
    assert not any(d.startswith("firmware/") for d in files)


def test_probe_compiles_for_the_board(tmp_path):
    # The probe is plain Python run by the board's compiler: mpy-cross must accept it.
    code = deploy.PROBE % (deploy._MARK, ["a.py"], ["lib"])
    src = str(tmp_path / "probe.py")
    with open(src, "w") as f:
        f.write(code)
    proc = subprocess.run([deploy.tool("mpy-cross", "MPY_CROSS"), "-march=xtensawin", "-o",
                           src + ".mpy", src], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
