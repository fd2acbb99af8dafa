"""Hardware API check: every use of machine / network / esp32 in firmware/ and boards/ must
type-check against the pinned micropython-esp32-stubs (mypy). The closest check to real
hardware CI has: a wrong I2S keyword, a misspelt Pin mode or WLAN method fails it.

usage: python tools/hwcheck.py [--root DIR] [PATH ...]   (default: all of firmware/ boards/)

How: the stub modules (installed flat into site-packages by the wheel, which mypy will not
search there) are linked into a temp dir on MYPYPATH, with micropython-stdlib-stubs as the
typeshed. Board modules receive `machine` as a parameter of build() so the simulator can pass a
fake; for the check that parameter is bound to the real `machine` stubs (the copy checked
renames the parameter and imports `machine` at module level, lines unchanged). Errors are
reported when they concern the hardware modules: a name defined by machine/network/esp32 or the
modules themselves. Other typing findings are counted, not failed on (this tier is about the
hardware API, not full typing of the app).
Prints one line per finding and a summary "hwcheck: N passed, M failed" (files).
"""

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HW_MODULES = ("machine", "network", "esp32")
_BUILD_PARAM = re.compile(r"^(def build\()machine\b", re.M)


def site_packages():
    return sysconfig.get_paths()["purelib"]


def _record_tops(dist_prefix):
    sp = site_packages()
    for entry in sorted(os.listdir(sp)):
        if entry.startswith(dist_prefix) and entry.endswith(".dist-info"):
            with open(os.path.join(sp, entry, "RECORD")) as f:
                return sorted({line.split(",")[0].split("/")[0] for line in f if line.strip()})
    raise SystemExit("hwcheck: %s is not installed; run `make setup` (requirements.txt pins it)"
                     % dist_prefix.replace("_", "-"))


def link_stubs(dest):
    """Link the esp32 stub modules (and the stdlib stubs' _mpy_shed) into dest."""
    sp = site_packages()
    tops = _record_tops("micropython_esp32_stubs") + ["_mpy_shed"]
    for top in tops:
        src = os.path.join(sp, top)
        if top.endswith(".dist-info") or not (top.endswith(".pyi") or os.path.isdir(src)):
            continue
        if os.path.exists(src):
            os.symlink(src, os.path.join(dest, top))
    if not os.path.isdir(os.path.join(sp, "stdlib")):
        raise SystemExit("hwcheck: micropython-stdlib-stubs is not installed; run `make setup`")
    return os.path.join(sp)  # the typeshed dir (holds stdlib/)


def hw_names(stub_dir):
    """Names the hardware stub modules define (classes and functions)."""
    names = set(HW_MODULES)
    for mod in HW_MODULES:
        path = os.path.join(stub_dir, mod + ".pyi")
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                names.add(node.name)
    return names


def device_files(root, paths=None):
    if paths:
        # Files outside the tree (a test's snippet) are checked as top-level modules.
        out = []
        for p in paths:
            rel = os.path.relpath(os.path.abspath(p), root)
            out.append(os.path.abspath(p) if rel.startswith("..") else rel)
        return out
    out = []
    for top in ("firmware", "boards"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            out.extend(os.path.relpath(os.path.join(dirpath, n), root)
                       for n in sorted(filenames) if n.endswith(".py"))
    return out


def stage(root, files, dest):
    """Copy the files to check into dest, binding build(machine) to the real stubs."""
    staged = []
    for rel in files:
        with open(os.path.join(root, rel)) as f:
            text = f.read()
        if _BUILD_PARAM.search(text):
            text = _BUILD_PARAM.sub(r"\1_machine_param", text)
            text += "\nimport machine  # noqa: E402 - hwcheck binds build()'s machine\n"
        target = os.path.join(dest, os.path.basename(rel) if os.path.isabs(rel) else rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(text)
        staged.append(target)
    return staged


_ERROR = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<msg>.*?)(?:  \[(?P<code>[\w-]+)\])?$")


def check(root=ROOT, paths=None):
    """Returns (files checked, hardware errors, other findings)."""
    files = device_files(root, paths)
    with tempfile.TemporaryDirectory(prefix="hwcheck-") as tmp:
        stubs = os.path.join(tmp, "stubs")
        src = os.path.join(tmp, "src")
        os.makedirs(stubs)
        typeshed = link_stubs(stubs)
        names = hw_names(stubs)
        staged = stage(root, files, src)
        for top in ("firmware", "boards"):
            # Modules the checked files import, unchecked themselves (follow-imports=silent).
            here = os.path.join(root, top)
            if os.path.isdir(here) and not os.path.isdir(os.path.join(src, top)):
                shutil.copytree(os.path.join(root, top), os.path.join(src, top),
                                ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ)
        env["MYPYPATH"] = os.pathsep.join(
            [stubs, src, os.path.join(src, "firmware"), os.path.join(root, "lib")])
        cmd = [sys.executable, "-m", "mypy", "--custom-typeshed-dir", typeshed,
               "--check-untyped-defs", "--follow-imports=silent", "--no-error-summary",
               "--show-error-codes", "--no-incremental", "--cache-dir", os.devnull,
               "--explicit-package-bases", "--namespace-packages", "--python-version", "3.11"]
        proc = subprocess.run(cmd + staged, capture_output=True, text=True, env=env, cwd=src)
        if proc.returncode not in (0, 1):
            raise SystemExit("hwcheck: mypy failed to run:\n" + proc.stderr + proc.stdout)
        hard, other = [], []
        for line in proc.stdout.splitlines():
            m = _ERROR.match(line)
            if not m:
                continue
            rel = os.path.relpath(os.path.join(src, m.group("file")), src)
            if rel.startswith(".."):
                continue  # inside the stubs themselves: their own inconsistencies, not ours
            entry = "%s:%s: %s" % (rel, m.group("line"), m.group("msg"))
            quoted = set(re.findall(r'"(?:type\[)?([\w.]+?)\]?"', m.group("msg")))
            quoted |= {q.split(".")[0] for q in quoted}
            if quoted & names or m.group("code") == "import-not-found" and any(
                    '"%s"' % mod in m.group("msg") for mod in HW_MODULES):
                hard.append(entry)
            else:
                other.append(entry)
    return files, hard, other


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=ROOT)
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    files, hard, other = check(args.root, args.paths)
    for entry in hard:
        print("FAIL " + entry)
    for entry in other:
        print("note " + entry)
    bad_files = {e.split(":")[0] for e in hard}
    print("hwcheck: %d passed, %d failed (%d files, %d hardware API errors, %d other typing "
          "notes)" % (len(files) - len(bad_files), len(bad_files), len(files), len(hard),
                      len(other)))
    return 1 if hard else 0


if __name__ == "__main__":
    sys.exit(main())
