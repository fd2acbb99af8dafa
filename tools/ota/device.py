# One boot of a board, for the OTA fault tests, under either runtime:
#     micropython tools/ota/device.py SPEC.json     (the unix port: real sockets and ssl)
#     python -u tools/ota/device.py SPEC.json       (CPython, tools/hostcompat.py)
# SPEC: {"root": the board's filesystem (a directory), "kill": a step name or null,
#        "disk_bytes": writes through the OTA client fail with ENOSPC past this many, or null,
#        "free_bytes": what statvfs says is free, or null}
#
# It does what the firmware does at reset: cwd is the board's root, sys.path is the board's
# ('', '.frozen', 'lib'), boot.py then main.py run in one __main__ namespace. What is not the
# board's: a `machine` whose reset() ends the process ("@@RESET"), a `time` whose sleep_ms()
# returns at once (main.py's only sleep is the 2 s it leaves to read an error on a serial
# console before a reset, which no test reads; on a crash loop that was most of a test's time),
# and the test seams of
# app/ota/slots.py set from SPEC once boot.py has chosen the version. At the kill step it
# prints "@@AT <step>" and blocks until the host kills the process (SIGKILL: nothing more is
# written or closed, as when the power goes).
# Lines for the host: "@@AT step", "@@RESET", "@@END" (main.py returned), the board's own output.
import json
import os
import sys

_MP = sys.implementation.name == "micropython"
_ENOSPC = 28


def out(line):
    sys.stdout.write(line + "\n")
    if hasattr(sys.stdout, "flush"):
        sys.stdout.flush()


class Pin:
    # main.py reads the button at power-on (setup mode): never held here.
    IN = 1
    PULL_UP = 2

    def __init__(self, *args):
        pass

    def value(self):
        return 1


class machine:  # noqa: N801 - stands in for the module of that name
    Pin = Pin

    @staticmethod
    def reset():
        out("@@RESET")
        raise SystemExit(0)


class Clock:
    """The interpreter's `time`, except that sleep_ms() does not wait."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def sleep_ms(self, ms):
        pass


class Bounded:
    """A file whose writes count against a shared budget; past it, OSError(ENOSPC)."""

    budget = None

    def __init__(self, f):
        self.f = f

    def write(self, data):
        n = len(data)
        if Bounded.budget is not None:
            if n > Bounded.budget:
                Bounded.budget = 0
                raise OSError(_ENOSPC, "No space left on device")
            Bounded.budget -= n
        return self.f.write(data)

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def bounded_open(path, mode="r"):
    f = open(path, mode)
    return Bounded(f) if "w" in mode or "a" in mode else f


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    os.chdir(spec["root"])
    if _MP:
        sys.path[:] = ["", ".frozen", "lib"]
    else:
        # The board's entries first, then the interpreter's own library (not this directory).
        here = sys.path[0]
        repo = os.path.dirname(os.path.dirname(os.path.abspath(here)))
        sys.path[:] = ["", "lib"] + [p for p in sys.path[1:] if p and p != here] + [repo]
        from tools import hostcompat  # noqa: F401 - MicroPython's time/asyncio/... on CPython
    sys.modules["machine"] = machine
    import time

    sys.modules["time"] = Clock(time)
    g = {"__name__": "__main__"}
    with open("boot.py") as f:
        exec(f.read(), g)
    kill = spec.get("kill")
    disk = spec.get("disk_bytes")
    free = spec.get("free_bytes")
    if kill or disk is not None or free is not None:
        from app.ota import slots

        if kill:
            def hook(name):
                if name == kill:
                    out("@@AT " + name)
                    sys.stdin.read()  # the host kills the process here
            slots.HOOK = hook
        if disk is not None:
            Bounded.budget = disk
            slots.OPEN = bounded_open
        if free is not None:
            slots.FREE = free
    with open("main.py") as f:
        exec(f.read(), g)
    out("@@END")


main()
