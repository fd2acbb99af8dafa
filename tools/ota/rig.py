"""A board, the versions it can be offered and a way to boot it: the OTA fault table's rig.

    rig = Rig(work_dir, "micropython")        # or "cpython"
    rig.release("1.1.0")                       # out: a signed release folder (built once)
    board = rig.board("b1", server_url)        # the base version (1.0.0) as `make deploy` puts it
    boot = board.boot()                        # one reset: boot.py + main.py; a Boot record
    boot.app                                   # what the running app said: version, its path

Versions are the repo's own device tree with app/runner.py replaced by a probe (it prints which
version's code is running and plays the app's first good cloud connection, through the same
otaboot hook as app/link.py) and a version mark in lib/websock/errors.py (so lib/ is seen to come
from the same tree). Everything else, the boot layer and the OTA client included, is the real
code. The tree is staged by tools/deploy.py's stage() (x64 .mpy for the unix port, .py for
CPython) and released by tools/release.py's build(), signed with a key made here.
"""

import json
import os
import queue
import shutil
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools import deploy, release  # noqa: E402

DEVICE = os.path.join(HERE, "device.py")
BOARD = "esp32s3_inmp441"
OTHER_BOARD = "esp32_inmp441"
TOKEN = "pat_OTA_RIG_TOKEN_must_never_be_printed_41"
BOOT_TIMEOUT_S = 120  # one boot: generous, nothing waits on it unless something hangs

PROBE = '''# Stand-in for app/runner.py in the OTA fault tests (tools/ota/rig.py): says which
# version's tree is running, then plays the app's first good cloud connection (app/link.py's
# hook).
import json
import sys
%(import_error)s
MARK = %(mark)r
BEHAVIOUR = %(behaviour)r


async def main(**hooks):
    from websock import errors

    print("@@APP " + json.dumps({"mark": MARK, "lib_mark": errors.OTA_MARK, "runner": __file__,
                                 "path": sys.path}))
    if BEHAVIOUR == "crash":
        raise RuntimeError("version %%s crashes on purpose" %% MARK)
    try:
        open("no_cloud").close()
        return  # the test took the cloud away
    except OSError:
        pass
    ota = sys.modules.get("otaboot")
    if ota is not None and ota.pending:
        from app.log import Log

        ota.confirm(Log())
    print("@@CLOUD")


def shutdown():
    pass
'''

BROKEN_CHECK = """# A broken update client (tools/ota/rig.py): its check raises.
def run(cfg, cur):
    raise RuntimeError("this version's update client is broken on purpose")
"""

# name -> (mark, behaviour, board, {extra or replaced file: content}); the version is the name
# up to "-". Each differs from 1.0.0 in its runner, its lib mark and these files.
VERSIONS = {
    "1.0.0": ("1.0.0", "good", BOARD, {}),
    "1.1.0": ("1.1.0", "good", BOARD, {"firmware/app/extra_1_1_0.py": "# only in 1.1.0\n"}),
    "1.2.0": ("1.2.0", "good", BOARD, {}),
    "1.3.0": ("1.3.0", "good", BOARD, {}),
    "1.1.0-crash": ("1.1.0-crash", "crash", BOARD, {}),
    "1.1.0-noimport": ("1.1.0-noimport", "import-error", BOARD, {}),
    "1.1.0-badota": ("1.1.0-badota", "good", BOARD, {"firmware/app/ota/check.py": BROKEN_CHECK}),
    "1.1.0-other": ("1.1.0-other", "good", OTHER_BOARD, {}),
}


def _version(name):
    return name.split("-")[0]


class Boot:
    """What one boot printed: lines, the probe's @@APP record, whether it reset or was killed."""

    def __init__(self, lines, killed):
        self.lines = lines
        self.killed = killed
        self.reset = "@@RESET" in lines
        self.cloud = "@@CLOUD" in lines
        self.app = None
        for line in lines:
            if line.startswith("@@APP "):
                self.app = json.loads(line[6:])
        self.text = "\n".join(lines)

    def has(self, text):
        return text in self.text


class Board:
    def __init__(self, rig, path):
        self.rig = rig
        self.path = path
        self.boots = []

    def boot(self, kill=None, disk_bytes=None, free_bytes=None):
        spec = os.path.join(self.path + ".spec.json")
        with open(spec, "w") as f:
            json.dump({"root": self.path, "kill": kill, "disk_bytes": disk_bytes,
                       "free_bytes": free_bytes}, f)
        cmd = self.rig.command() + [DEVICE, spec]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        lines = queue.Queue()

        def pump():
            for raw in proc.stdout:
                lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        got, killed = [], False
        try:
            while True:
                line = lines.get(timeout=BOOT_TIMEOUT_S)
                if line is None:
                    break
                got.append(line)
                if kill and line == "@@AT " + kill:
                    proc.kill()  # SIGKILL: the power goes at this step
                    killed = True
        except queue.Empty:
            proc.kill()
            raise AssertionError("the board did not finish booting in %d s:\n%s"
                                 % (BOOT_TIMEOUT_S, "\n".join(got[-20:]))) from None
        finally:
            proc.wait(10)
            proc.stdin.close()
            proc.stdout.close()
        boot = Boot(got, killed)
        self.boots.append(boot)
        return boot

    def file(self, rel):
        return os.path.join(self.path, rel)

    def read(self, rel):
        try:
            with open(self.file(rel)) as f:
                return f.read()
        except OSError:
            return None

    def pointer(self):
        text = self.read("ota/ptr")
        return json.loads(text) if text else None

    def running_tree(self, slot):
        return self.path if not slot else os.path.join(self.path, "ota", slot)

    def tree_files(self, slot):
        """{path: sha256} of every file of a slot's tree (the base: the app files only)."""
        top = self.running_tree(slot)
        out = {}
        for dirpath, dirnames, filenames in os.walk(top):
            rel_dir = os.path.relpath(dirpath, top)
            if not slot and rel_dir.split(os.sep)[0] == "ota":
                dirnames[:] = []
                continue
            for name in filenames:
                rel = os.path.normpath(os.path.join(rel_dir, name)).replace(os.sep, "/")
                out[rel] = release.sha256_file(os.path.join(dirpath, name))
        return out


class Rig:
    def __init__(self, work, runtime):
        if runtime not in ("micropython", "cpython"):
            raise ValueError(runtime)
        self.work = work
        self.runtime = runtime
        self.src = runtime == "cpython"
        os.makedirs(work, exist_ok=True)
        self.key_path = os.path.join(work, "ota-signing.key")
        self.other_key_path = os.path.join(work, "other-signing.key")
        release.ensure_key(self.key_path)
        release.ensure_key(self.other_key_path)
        self.key = release.load_key(self.key_path)
        self.public = release.public_hex(self.key_path)
        self._staged = {}
        self._releases = {}
        self._lock = threading.Lock()

    def command(self):
        if self.runtime == "micropython":
            binary = os.path.join(os.path.dirname(sys.executable), "micropython")
            return [binary, "-X", "heapsize=2M"]
        return [sys.executable, "-u", "-B"]  # -B: no __pycache__ in the board's tree

    # ---- versions --------------------------------------------------------------------------

    def _tree(self, name):
        """The source of version `name`: the whole device tree for 1.0.0; for the others only
        the files that differ from it (staged on top of 1.0.0's, so each costs a few mpy-cross
        runs, not a whole tree's)."""
        top = os.path.join(self.work, "src", name)
        if os.path.isdir(top):
            return top
        mark, behaviour, _board, files = VERSIONS[name]
        if name == "1.0.0":
            for sub in deploy.cross_compile.DEVICE_DIRS:
                shutil.copytree(os.path.join(ROOT, sub), os.path.join(top, sub),
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        imp = "import app.no_such_module_on_purpose  # noqa: F401" if (
            behaviour == "import-error") else ""
        with open(os.path.join(ROOT, "lib", "websock", "errors.py")) as f:
            errors = f.read()
        files = dict(files)
        files["firmware/app/runner.py"] = PROBE % {"mark": mark, "behaviour": behaviour,
                                                   "import_error": imp}
        files["lib/websock/errors.py"] = errors + "\nOTA_MARK = %r  # tools/ota/rig.py\n" % mark
        for rel, text in files.items():
            path = os.path.join(top, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        return top

    def staged(self, name):
        """{board path: local file} of version `name`, staged as `make deploy` would."""
        base = None if name == "1.0.0" else self.staged("1.0.0")
        with self._lock:
            if name not in self._staged:
                out = os.path.join(self.work, "staged", name)
                files = deploy.stage(self._tree(name), out, self.src, "x64", None, None)
                merged = dict(base or {})
                merged.update(files)
                self._staged[name] = merged
            return self._staged[name]

    def path(self, module):
        """A module's board path in this runtime's tree: "app/runner" -> app/runner.mpy."""
        return module + (".py" if self.src else ".mpy")

    def release(self, name, key=None):
        """The release folder of version `name` (signed with the rig's key or `key`)."""
        tag = (name, key)
        with self._lock:
            if tag in self._releases:
                return self._releases[tag]
        files = self.staged(name)
        out = os.path.join(self.work, "www", name + ("-" + key if key else ""))
        signer = self.key if key is None else release.load_key(self.other_key_path)
        release.build(files, _version(name), VERSIONS[name][2], signer, out)
        with self._lock:
            self._releases[tag] = out
        return out

    def manifest(self, name):
        with open(os.path.join(self.release(name), "manifest.json")) as f:
            entries = json.load(f)
        return {e[0]: e[2] for e in entries[2:]}

    # ---- boards ----------------------------------------------------------------------------

    def board(self, name, url, ca_pem, **cfg_extra):
        """A board running the base version 1.0.0, configured for the server at `url`."""
        path = os.path.join(self.work, "boards", name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.makedirs(path)
        for dest, local in self.staged("1.0.0").items():
            target = os.path.join(path, dest)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(local, target)
        os.makedirs(os.path.join(path, "certs"))
        shutil.copyfile(ca_pem, os.path.join(path, "certs", "ca.pem"))
        cfg = {"wifi_ssid": "rig", "wifi_password": "rig-wifi-secret-never-printed",
               "token": TOKEN, "bot_id": "7400000000000000001", "board": BOARD,
               "ota_url": url, "ota_key": self.public, "log_level": "info"}
        cfg.update(cfg_extra)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(cfg, f)
        return Board(self, path)
