"""Silence inside a reply, and whose it is: the device's or the host's.

The device's player reports every gap as it ends (trace "gap", detail "KIND MS"; lib/audio/
player.py): "underrun" when its ring ran dry, "late" when it had audio but wrote it after the
DMA had played out. Either is heard as a crackle. Whether the app caused it or the host machine
did (a loaded CI runner that keeps the process waiting for a CPU) is told apart by the kernel's
own account: /proc/PID/schedstat gives the nanoseconds the app's thread ran and the nanoseconds
it sat runnable in the run queue. A gap during which the process waited on the run queue for at
least half the gap's length is the host's ("host"); otherwise the process was on the CPU or idle
by its own doing, and the gap is the app's ("app").
"""

import asyncio
import os

SAMPLE_S = 0.005
_HOST_SHARE = 0.5  # of the gap's length spent waiting for a CPU: the host fell behind
_WINDOW_S = 0.040  # before the gap: the late write was due up to a DMA's depth earlier


def read_schedstat(pid):
    """(ran_ns, waited_ns) of the process's main thread, or None where the kernel lacks it."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            ran, waited, _ = f.read().split()
        return int(ran), int(waited)
    except (OSError, ValueError):
        return None


class SchedMonitor:
    """Samples a process's run-queue wait every few ms on the simulation's clock."""

    def __init__(self, now):
        self._now = now
        self.pid = None
        self.samples = []  # (t, waited_ns)
        self._task = None

    def start(self, pid):
        self.pid = pid
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self):
        while True:
            got = read_schedstat(self.pid) if self.pid else None
            if got is not None:
                self.samples.append((self._now(), got[1]))
            await asyncio.sleep(SAMPLE_S)

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def waited_ms(self, t0, t1):
        """Run-queue wait between t0 and t1 (widened to the samples around them), or None."""
        before = [w for t, w in self.samples if t <= t0]
        after = [w for t, w in self.samples if t >= t1]
        if not before or not after:
            return None
        return (after[0] - before[-1]) / 1e6


def gaps(result, monitor=None):
    """The reply gaps of a run: [{"t", "ms", "kind", "cause", "waited_ms"}], t = gap start."""
    out = []
    for t, name, detail in result.trace:
        if name != "gap":
            continue
        kind, _, ms = detail.partition(" ")
        ms = int(ms)
        start = t - ms / 1000
        waited = monitor.waited_ms(start - _WINDOW_S, t) if monitor is not None else None
        if waited is None:
            cause = "unknown"
        elif waited >= _HOST_SHARE * max(ms, 1):
            cause = "host"
        else:
            # Not starved of CPU: a late write is the app's doing; a dry ring means the audio
            # had not arrived (the cloud or the link was slower than real time).
            cause = "app" if kind == "late" else "network"
        out.append({"t": round(start, 3), "ms": ms, "kind": kind, "cause": cause,
                    "waited_ms": None if waited is None else round(waited, 1)})
    return out


def describe(gap):
    why = {"host": "the host kept the process waiting %s ms for a CPU" % gap["waited_ms"],
           "app": "the app itself was late",
           "network": "the audio had not arrived", "unknown": "cause unknown (no /proc schedstat)"}
    return "%d ms of silence at %.3f s (%s; %s)" % (gap["ms"], gap["t"], gap["kind"],
                                                   why[gap["cause"]])


def own_pid():
    return os.getpid()
