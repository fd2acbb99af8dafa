"""`--runtime micropython`: the unchanged firmware in the MicroPython unix port, as deployed.

The host keeps what it has with CPython (fake cloud, recorder, the report, the timeline); only
the device moves into its own process: `micropython -X heapsize=N tools/mpsim/simboot.py SPEC`,
running the tree `make deploy` would copy (mpy-cross output, here `-march=x64` so the viper
kernels are native code) on the virtual hardware in tools/mpsim. The two sides share one
timeline: the host passes its t=0 as a tick value of CLOCK_MONOTONIC, the clock both CPython's
event loop and the unix port's ticks_us() read (whose period there is 2**62, so no wrap).

Files of one run (in a temporary folder): spec.json (config, button schedule, paths), mic.raw
(the mic WAV in the bus's app-side slot format, sample 0 at t=0), speaker.raw (every frame the
speaker bus played, from its creation) and writes.txt ("t_us bytes" per I2S write).
"""

import asyncio
import hashlib
import json
import os
import shutil
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPSIM = os.path.join(ROOT, "tools", "mpsim")
DEPLOY_CACHE = os.path.join(ROOT, "out", "mpsim")
ARCH = "x64"
# A board with PSRAM gives MicroPython megabytes; 2 MB at 8-byte pointers is that class of board.
# A no-PSRAM figure comes from `make bench`, not from here.
DEFAULT_HEAP_BYTES = 2 * 1024 * 1024
_STOP_GRACE_S = 15.0  # after the script's own end: link close, task teardown, stats


def micropython_binary():
    local = os.path.join(os.path.dirname(sys.executable), "micropython")
    return local if os.path.exists(local) else shutil.which("micropython") or "micropython"


def _sources_digest():
    from tools import cross_compile

    digest = hashlib.sha256(ARCH.encode())
    for rel in cross_compile.device_files(ROOT):
        digest.update(rel.encode())
        with open(os.path.join(ROOT, rel), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def deployed_tree():
    """The .mpy tree `make deploy` stages, built for x64 once per source state and reused.

    Concurrent builders (pytest workers) each stage into a private folder and rename it into
    place; the loser of the race discards its copy.
    """
    from tools import deploy

    final = os.path.join(DEPLOY_CACHE, "deploy-" + _sources_digest())
    if os.path.isdir(final):
        return final
    os.makedirs(DEPLOY_CACHE, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="stage-", dir=DEPLOY_CACHE)
    staged = os.path.join(tmp, "tree")
    deploy.stage(ROOT, staged, src=False, arch=ARCH, ca=None, config_path=None)
    try:
        os.rename(staged, final)
    except OSError:
        if not os.path.isdir(final):
            raise
    shutil.rmtree(tmp, ignore_errors=True)
    return final


def write_mic_file(path, board, wav):
    """The mic WAV as the board's RX bus hands it to the app, sample 0 at t=0.

    INMP441-style 32-bit slots carry the 16-bit sample in the top half (left-justified), as
    tools/vhw/i2s.py models it for the CPython runtime.
    """
    from tools.cloud.audio import read_wav, resample

    mic = board.MIC
    bits, channels, rate = mic["slot_bits"], mic["channels"], mic["rate"]
    if wav:
        samples, wav_rate = read_wav(wav)
        pcm = np.asarray(resample(samples, wav_rate, rate), dtype=np.int64)
    else:
        pcm = np.zeros(0, dtype=np.int64)
    slots = (pcm << 16).astype("<i4") if bits == 32 else pcm.astype("<i2")
    if channels == 2:
        slots = np.stack([slots, np.zeros_like(slots)], axis=1).reshape(-1)
    slots.tofile(path)
    return {"bits": bits, "channels": channels, "rate": rate}


def read_speaker(path, bus):
    """Channel 0 of what the speaker bus played, as int16 (32-bit slots carry it on top)."""
    dtype = "<i2" if bus["bits"] == 16 else "<i4"
    raw = np.fromfile(path, dtype=dtype) if os.path.exists(path) else np.zeros(0, dtype)
    samples = raw[:: bus["channels"]].astype(np.int64)
    if bus["bits"] == 32:
        samples >>= 16
    return samples.astype(np.int16)


def read_writes(path):
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                t_us, n = line.split()
                out.append((int(t_us) / 1e6, int(n)))
    return out


async def records(stream):
    """The device process's stdout as (kind, value): "@@KIND JSON" records decoded, any other
    line as (None, text) (what the app printed outside its log)."""
    while True:
        line = await stream.readline()
        if not line:
            return
        text = line.decode("utf-8", "replace").rstrip("\n")
        kind, _, payload = text.partition(" ")
        if kind.startswith("@@"):
            yield kind, json.loads(payload)
        else:
            yield None, text


class Device:
    """One device process: spawn, follow its records, stop it, and fill the SimResult."""

    def __init__(self, sim, board, heap_bytes=None):
        self.sim = sim
        self.board = board
        self.heap_bytes = heap_bytes or DEFAULT_HEAP_BYTES
        self.end = None
        self.stderr = b""
        self.returncode = None

    def spec(self, workdir, cfg, presses, duration, until_stop, t0_ticks):
        from tools.sim.harness import room_spec

        board = self.board
        return {
            "t0_ticks_us": t0_ticks,
            "root": deployed_tree(),
            "chip": board.CHIP,
            "mic": os.path.join(workdir, "mic.raw"),
            "mic_format": write_mic_file(os.path.join(workdir, "mic.raw"), board,
                                         self.sim.o.mic),
            "speaker": os.path.join(workdir, "speaker.raw"),
            "writes": os.path.join(workdir, "writes.txt"),
            "wifi": {"ssid": cfg["wifi_ssid"], "key": cfg["wifi_password"], "join_ms": 100},
            "config": cfg,
            "button_gpio": board.PINS["button"],
            "presses": [list(p) for p in presses],
            "duration": duration,
            "until_stop": until_stop,
            "room": room_spec(self.sim.o),  # None: no echo path, no noise (vi2s as before)
        }

    async def run(self, cfg, presses, duration, recorder, end_at=None):
        sim = self.sim
        with tempfile.TemporaryDirectory(prefix="mpsim-") as workdir:
            # Unmasked: the unix port's ticks period is 2**62 at 64 bits (not the boards' 2**30).
            t0_ticks = int(round(sim._loop_t0 * 1e6))
            spec = self.spec(workdir, cfg, presses, duration, end_at is not None, t0_ticks)
            spec_path = os.path.join(workdir, "spec.json")
            with open(spec_path, "w") as f:
                json.dump(spec, f)
            cmd = [micropython_binary(), "-X", "heapsize=%d" % self.heap_bytes,
                   os.path.join(MPSIM, "simboot.py"), spec_path]
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=workdir)
            sim.monitor.start(proc.pid)  # the device's own process, for tools/sim/gaps.py
            last_press = max([r for _, r in presses] or [0.0])
            limit = (duration if duration is not None else last_press + 30.0) + _STOP_GRACE_S
            if end_at is not None:
                limit = max(limit, end_at + 10.0 + _STOP_GRACE_S)
            readers = [asyncio.ensure_future(self._follow(proc.stdout, recorder)),
                       asyncio.ensure_future(self._drain_stderr(proc.stderr))]
            stopper = asyncio.ensure_future(self._stop_at(proc, recorder, end_at))
            try:
                await asyncio.wait_for(asyncio.gather(*readers), limit - sim.now() + 5.0)
            except asyncio.TimeoutError:
                proc.kill()
                sim.result.crashed = sim.result.crashed or (
                    "the device process did not end within %.0f s (killed)" % limit)
            finally:
                stopper.cancel()
                self.returncode = await proc.wait()
            self._collect(workdir)

    async def _stop_at(self, proc, recorder, end_at):
        # A replay ends where its recording did, on the session's clock (since the link opened).
        if end_at is None:
            return
        sim = self.sim
        while sim.now() < end_at + 10.0:
            if recorder._t0 is not None and recorder.now() >= end_at:
                break
            await asyncio.sleep(0.01)
        try:
            proc.stdin.write(b"stop\n")
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass

    async def _follow(self, stream, recorder):
        sim = self.sim
        async for kind, value in records(stream):
            if kind == "@@T":
                t_us, name, detail = value
                self._trace(t_us / 1e6, name, detail, recorder)
            elif kind == "@@L":
                sim._log_line(value)
            elif kind == "@@CRASH":
                sim.result.crashed = sim.result.crashed or value
            elif kind == "@@END":
                self.end = value
            else:
                sim._log_line(value)  # anything the device printed outside the log

    def _trace(self, t, name, detail, recorder):
        sim = self.sim
        sim.result.trace.append((t, name, detail))
        if name == "state":
            sim._say("[%7.3f] state %s" % (t, detail))
        elif name == "button_press":
            recorder.note("button", "press")
        elif name == "button_release":
            recorder.note("button", "release")

    async def _drain_stderr(self, stream):
        chunks = []
        while True:
            chunk = await stream.read(4096)
            if not chunk:
                break
            chunks.append(chunk)
        self.stderr = b"".join(chunks)

    def _collect(self, workdir):
        res = self.sim.result
        end = self.end or {}
        res.player_stats = end.get("player") or {}
        res.device = {"runtime": "micropython", "heap_bytes": self.heap_bytes,
                      "sys_implementation": end.get("implementation"),
                      "heap_after_collect": end.get("heap"),
                      "kernels": end.get("kernels"), "wdt_missed": end.get("wdt_missed"),
                      "returncode": self.returncode}
        err = self.stderr.decode("utf-8", "replace")
        if "MemoryError" in (res.crashed or "") + err:
            # One line that says what happened and what to change, whichever task hit it.
            res.crashed = ("the device ran out of heap (-X heapsize=%d KB): %s; give it more "
                           "with --heap-kb" % (self.heap_bytes // 1024,
                                               res.crashed or "MemoryError"))
        elif self.end is None and res.crashed is None:
            tail = [x for x in err.strip().splitlines() if x.strip()][-1:] or ["no output"]
            res.crashed = "the device process exited (%s) before it reported: %s" % (
                self.returncode, tail[0])
        if err.strip():
            res.device["stderr_tail"] = err.strip().splitlines()[-5:]
        tx = [b for b in end.get("buses", []) if b["mode"] == "tx"]
        if not tx:
            res.speaker = (np.zeros(0, dtype=np.int16), self.board.SPEAKER["rate"])
            return
        bus = tx[-1]
        res.speaker = (read_speaker(os.path.join(workdir, "speaker.raw"), bus), bus["rate"])
        res.speaker_t0 = bus["start_frame"] / bus["rate"]  # file frame 0 on the timeline
        res.speaker_writes = read_writes(os.path.join(workdir, "writes.txt"))


def host_implementation():
    impl = sys.implementation
    return {"name": impl.name, "version": list(impl.version)[:3], "cache_tag": impl.cache_tag,
            "platform": sys.platform, "maxsize_bits": 64 if sys.maxsize > 2**32 else 32}
