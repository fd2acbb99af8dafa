"""Cross-compile tier: every device file compiles with mpy-cross for the ESP32's CPU.

usage: python tools/cross_compile.py [--arch xtensawin] [--out DIR]
Without --out the .mpy output is discarded; `make deploy` reuses this with --out.
"""

import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICE_DIRS = ("firmware", "lib", "boards")


def device_files(root=ROOT):
    for top in DEVICE_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    yield os.path.relpath(os.path.join(dirpath, name), root)


def mpy_cross():
    local = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return local if os.path.exists(local) else "mpy-cross"


def compile_all(arch, out_dir):
    failures = []
    files = list(device_files())
    for rel in files:
        target = os.path.join(out_dir, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # -s keeps tracebacks pointing at the source path a developer knows.
        cmd = [mpy_cross(), "-march=" + arch, "-s", rel, "-o", target, rel]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            failures.append(rel)
            print("FAIL %s\n%s" % (rel, (proc.stderr or proc.stdout).strip()))
    return files, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="xtensawin")
    parser.add_argument("--out", help="keep the .mpy files here")
    args = parser.parse_args()
    if args.out:
        files, failures = compile_all(args.arch, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            files, failures = compile_all(args.arch, tmp)
    passed = len(files) - len(failures)
    print("cross-compile (%s): %d passed, %d failed" % (args.arch, passed, len(failures)))
    return 1 if failures or not files else 0


if __name__ == "__main__":
    sys.exit(main())
