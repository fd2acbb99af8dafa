"""`make deploy` / `make deploy-src`: put the app on a board with mpremote, copying only changes.

usage: python tools/deploy.py [--port PORT] [--board B] [--src] [--config FILE] [--dry-run]

1. Build a staging tree (out/deploy/<mpy|src>/) laid out as the board's filesystem:
   firmware/* -> /, lib/* -> /lib, boards/* -> /boards, the CA bundle -> /certs/ca.pem and a
   validated config.json -> /config.json. `make deploy` compiles .py to .mpy with mpy-cross for
   the board's architecture (boot.py and main.py stay source: the firmware only runs those two
   by name); `make deploy-src` copies .py for debugging.
2. Ask the board for the SHA-256 of every staged path (one `mpremote exec`): the board is the
   truth, so a re-flashed or hand-edited board is handled; no host-side manifest to go stale.
3. One chained mpremote call: mkdir what is missing, cp what differs, rm the other variant
   (a stale x.py next to a new x.mpy would win the import: MicroPython looks for .py first),
   `mip install` missing micropython-lib packages, then reset.
Tools: mpremote and mpy-cross pinned in requirements.txt; $MPREMOTE / $MPY_CROSS override.
"""

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# Not tools/ itself: its `cloud` package would shadow the device's lib/cloud for every import
# after this one in the same process (pytest workers, the simulator).
for _path in (os.path.join(ROOT, "firmware"), os.path.join(ROOT, "lib"), ROOT):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tools import hostcompat  # noqa: E402,F401,I001 - MicroPython shims, the host compat
import config  # noqa: E402,I001 - firmware/config.py, the device's own validation
from tools import cross_compile  # noqa: E402,I001 - device_files(): what goes to the board

ARCH = {"esp32": "xtensawin", "esp32s3": "xtensawin"}
CA_BUNDLE = os.path.join(ROOT, "tools", "certs", "ca.pem")
CA_DEST = "certs/ca.pem"
PACKAGE_JSON = os.path.join(ROOT, "package.json")
PACKAGE_VERSION = "0.1.0"
SOURCE_ONLY = ("boot.py", "main.py")  # run by name by the firmware: .mpy would be ignored
# Over-the-air versions (firmware/otaboot.py) live in ota/ and would shadow what a deploy
# copies: a deploy removes them, so the board runs the tree it was just given.
OTA_DIR = "ota"
_MARK = "@@DEPLOY "

# Runs on the board (and in the tests' stand-in, under CPython): hashes of the wanted paths,
# which directories exist. Plain Python both interpreters accept.
PROBE = """import os, hashlib, binascii, json
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    while True:
        b = f.read(1024)
        if not b:
            break
        h.update(b)
    f.close()
    return binascii.hexlify(h.digest()).decode()
def _d(p):
    try:
        return os.stat(p)[0] & 0x4000 != 0
    except OSError:
        return False
print(%r + json.dumps({'f': dict((p, _h(p)) for p in %r), 'd': [d for d in %r if _d(d)]}))
"""


class DeployError(Exception):
    pass


def tool(name, env_var):
    if os.environ.get(env_var):
        return os.environ[env_var]
    local = os.path.join(os.path.dirname(sys.executable), name)
    return local if os.path.exists(local) else name


def device_path(rel):
    """Repo path -> path on the board (relative to its root, which is the cwd at boot)."""
    top, rest = rel.split(os.sep, 1) if os.sep in rel else ("", rel)
    rest = rest.replace(os.sep, "/")
    return rest if top == "firmware" else top + "/" + rest


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def mip_packages(path=PACKAGE_JSON):
    """micropython-lib packages the board needs: package.json's "deps", the one list of them.

    Empty today: asyncio, ssl, json, hashlib and binascii are built into the ESP32 firmware and
    the WebSocket client is our own. `mpremote mip install github:<owner>/<repo>` reads the same
    list, so a board set up either way gets the same packages.
    """
    with open(path) as f:
        return [name for name, _version in json.load(f).get("deps", ())]


def mip_markers(name):
    # mip puts a module at lib/<name>.mpy and a package at lib/<name>/__init__.mpy.
    return ("lib/%s.mpy" % name, "lib/%s/__init__.mpy" % name)


def lib_sources(root=ROOT):
    """lib/**/*.py as GitHub serves them: the files git tracks (the tree without git)."""
    proc = subprocess.run(["git", "-C", root, "ls-files", "-z", "lib"], capture_output=True)
    if proc.returncode == 0 and proc.stdout:
        return sorted(p for p in proc.stdout.decode().split("\0") if p.endswith(".py"))
    return sorted(rel.replace(os.sep, "/") for rel in cross_compile.device_files(root)
                  if rel.startswith("lib" + os.sep))


def package_json(root=ROOT, deps=()):
    """The mip manifest: every lib/ file, as a URL relative to package.json (fork-proof)."""
    urls = [[rel[len("lib/"):], rel] for rel in lib_sources(root)]
    return {"urls": urls, "deps": [list(d) for d in deps], "version": PACKAGE_VERSION}


def write_package_json(path=PACKAGE_JSON):
    deps = []
    if os.path.exists(path):
        with open(path) as f:
            deps = json.load(f).get("deps", [])
    pkg = package_json(ROOT, deps)
    # One [dest, source] pair per line, so a diff shows exactly which file came or went.
    lines = ["{", ' "urls": [']
    lines += ["  %s%s" % (json.dumps(u), "," if i < len(pkg["urls"]) - 1 else "")
              for i, u in enumerate(pkg["urls"])]
    lines += [" ],", ' "deps": %s,' % json.dumps(pkg["deps"]),
              ' "version": %s' % json.dumps(pkg["version"]), "}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def check_config(path, board):
    if not os.path.exists(path):
        return None
    cfg = config.load(path)  # ConfigError: the device's own one line
    if board and cfg["board"] != board:
        raise DeployError("BOARD=%s but %s says board %r: run `make configure BOARD=%s` or drop"
                          " BOARD" % (board, path, cfg["board"], board))
    return cfg


def stage(root, out, src, arch, ca, config_path):
    """Build the board's file tree in `out`; return {device path: local file}."""
    if os.path.isdir(out):
        shutil.rmtree(out)
    files = {}
    for rel in cross_compile.device_files(root):
        dest = device_path(rel)
        if not src and compiles(dest):
            dest = dest[:-3] + ".mpy"
        target = os.path.join(out, dest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if dest.endswith(".mpy"):
            cmd = [tool("mpy-cross", "MPY_CROSS"), "-march=" + arch, "-s", dest[:-4] + ".py",
                   "-o", target, os.path.join(root, rel)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise DeployError("mpy-cross failed on %s:\n%s" % (rel, proc.stderr.strip()))
        else:
            shutil.copyfile(os.path.join(root, rel), target)
        files[dest] = target
    if ca:
        files[CA_DEST] = ca
    if config_path and os.path.exists(config_path):
        files["config.json"] = config_path
    return files


def compiles(dest):
    return dest.endswith(".py") and ("/" in dest or dest not in SOURCE_ONLY)


def other_variant(dest):
    """The file that would shadow (or be shadowed by) dest if both were on the board."""
    if dest.endswith(".mpy"):
        return dest[:-4] + ".py"
    if compiles(dest):
        return dest[:-3] + ".mpy"
    return None


def parents(path):
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def probe(mpremote, port, wanted, dirs):
    code = PROBE % (_MARK, sorted(wanted), sorted(dirs))
    proc = subprocess.run([mpremote, "connect", port, "exec", code], capture_output=True,
                          text=True, timeout=120)
    for line in proc.stdout.splitlines():
        if line.startswith(_MARK):
            state = json.loads(line[len(_MARK):])
            return state["f"], set(state["d"])
    raise DeployError("could not read the board's files over %s (mpremote exit %d): %s"
                      % (port, proc.returncode, (proc.stderr or proc.stdout).strip()[-400:]))


def plan(files, remote, remote_dirs, full=False):
    """The mpremote commands (without `connect`) that make the board match `files`."""
    cmds, changed = [], []
    made = set(remote_dirs)
    for dest in sorted(files):
        if not full and remote.get(dest) == sha256_file(files[dest]):
            continue
        for d in parents(dest):
            if d not in made:
                cmds.append(["fs", "mkdir", ":" + d])
                made.add(d)
        cmds.append(["fs", "cp", "-f", files[dest], ":" + dest])
        changed.append(dest)
    for dest in sorted(files):
        stale = other_variant(dest)
        if stale and stale not in files and remote.get(stale):
            cmds.append(["fs", "rm", ":" + stale])
    return cmds, changed


def chain(mpremote, port, cmds):
    argv = [mpremote, "connect", port]
    for i, cmd in enumerate(cmds):
        argv += (["+"] if i else []) + cmd
    return argv


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", default="auto", help="serial port [auto: first USB board]")
    parser.add_argument("--board", help="board name; must match config.json's board")
    parser.add_argument("--chip", default="esp32s3", choices=sorted(ARCH),
                        help="only picks the mpy-cross arch (both chips are xtensawin)")
    parser.add_argument("--src", action="store_true", help="copy .py instead of .mpy")
    parser.add_argument("--config", default="config.json", help="copied when it exists")
    parser.add_argument("--ca", default=CA_BUNDLE, help="CA bundle for wss:// [%(default)s]")
    parser.add_argument("--root", default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--stage", help="staging directory [out/deploy/<mpy|src>]")
    parser.add_argument("--full", action="store_true", help="copy everything, even unchanged")
    parser.add_argument("--no-reset", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="stage, probe, print the plan")
    parser.add_argument("--package-json", action="store_true",
                        help="rewrite package.json (the mip manifest) from lib/ and exit")
    args = parser.parse_args(argv)
    if args.package_json:
        write_package_json()
        print("wrote %s" % PACKAGE_JSON)
        return 0
    try:
        cfg = check_config(args.config, args.board)
        board = args.board or (cfg and cfg["board"])
        chip = board.split("_", 1)[0] if board and board.split("_", 1)[0] in ARCH else args.chip
        out = args.stage or os.path.join(args.root, "out", "deploy", "src" if args.src else "mpy")
        files = stage(args.root, out, args.src, ARCH[chip], args.ca, args.config)
        mpremote = tool("mpremote", "MPREMOTE")
        dirs = {d for dest in files for d in parents(dest)}
        packages = mip_packages()
        markers = [m for name in packages for m in mip_markers(name)]
        wanted = set(files) | set(markers)
        wanted |= {other_variant(d) for d in files if other_variant(d)}
        remote, remote_dirs = probe(mpremote, args.port, wanted, dirs | {OTA_DIR})
        cmds, changed = plan(files, remote, remote_dirs, args.full)
        if OTA_DIR in remote_dirs:
            cmds.append(["fs", "rm", "-r", ":" + OTA_DIR])
        for name in packages:
            if not any(remote.get(m) for m in mip_markers(name)):
                cmds.append(["mip", "install", name])
        # Nothing changed: leave a running board alone.
        if cmds and not args.no_reset:
            cmds.append(["reset"])
    except (DeployError, config.ConfigError) as exc:
        print("deploy: %s" % exc, file=sys.stderr)
        return 2
    print("deploy: %d of %d files changed%s" % (len(changed), len(files),
          "" if cfg else "; no %s here (run `make configure`)" % args.config))
    for dest in changed:
        print("  " + dest)
    if not cmds:
        print("deploy: board is up to date")
        return 0
    argv = chain(mpremote, args.port, cmds)
    # The token is in config.json's content, never on this command line.
    print("$ " + " ".join(shlex.quote(a) for a in argv), flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(argv)


if __name__ == "__main__":
    sys.exit(main())
