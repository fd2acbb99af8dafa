"""What the device needs in RAM, measured on the deployed tree: `make bench` rows.

The tree is tools/deploy.py's own stage() output plus a default config.json (Coze, push-to-talk,
PCM, board esp32s3_inmp441): .mpy files, main.py as source. Two MicroPython runtimes:
- WebAssembly (32-bit pointers like the ESP32; tools/bench/device_run.mjs): the xtensawin tree
  `make deploy` copies. Its .mpy files without viper code are byte-identical to bytecode-only
  ones (checked below, for every file); the *_viper.mpy hold Xtensa machine code, which this
  port refuses ("native code in .mpy unsupported"). The kernels have one source (viper code
  that is also plain Python), so here each is replaced by the bytecode-only build of its source
  with the decorator lines blanked, as tools/mptest/run.mjs runs them. On the ESP32 the machine
  code is loaded into executable memory outside the MicroPython heap, so the rows leave those
  modules' heap out (each measured, in the table, and named in the row's text).
- unix port (8-byte pointers: a cross-check, not the device's figure): the same tree compiled
  with -march=x64, viper kernels as native code (also outside its heap).
Per runtime: one boot of the app with an import hook (tools/bench/mp/devboot.py) records what
the device imports, in order; devimports.py measures each module's heap in that order, and the
whole set once more in a fresh interpreter (the row); three more boots, each in a fresh
interpreter, give the app's peak heap (the row is their median). tools/bench/mp/*.py says how
each figure is read.
usage: .venv/bin/python tools/bench/bench_device.py
"""

import concurrent.futures
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools")
HARNESS = os.path.join(TOOLS, "bench", "mp")
MPSIM = os.path.join(TOOLS, "mpsim")
SESSION = os.path.join(ROOT, "tests", "data", "bench", "default_session.txt")
OUT = os.path.join(ROOT, "out", "bench-device")
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # not tools/: its `cloud` package would shadow the device's

from tools import deploy  # noqa: E402 - stage() builds what `make deploy` copies

RUNS = 3
WIFI = ["sim-wifi", "sim-password"]
CONFIG = {"wifi_ssid": WIFI[0], "wifi_password": WIFI[1], "token": "pat_bench_not_a_token",
          "bot_id": "7400000000000000000", "board": "esp32s3_inmp441"}
UNIX_HEAP = "8M"  # large: the unix GC must never collect on its own (see devmeter.py)
TIMEOUT_S = 240
WASM_ROOT = "/flash"
TABLE_TOP = 12


class RunError(Exception):
    pass


def stage(arch):
    """The deployed tree for `arch`, with config.json; returns its directory."""
    out = os.path.join(OUT, arch)
    os.makedirs(OUT, exist_ok=True)
    config_path = os.path.join(OUT, "config.json")
    with open(config_path, "w") as f:
        json.dump(CONFIG, f)
    deploy.stage(ROOT, out, False, arch, None, config_path)
    shutil.copyfile(config_path, os.path.join(out, "config.json"))
    return out


def check_bytecode_identical(tree):
    """Every non-viper .mpy of the xtensawin tree equals mpy-cross's bytecode-only output: what
    the WebAssembly port loads is the device's own code. Returns the viper modules."""
    mpy_cross = deploy.tool("mpy-cross", "MPY_CROSS")
    native = []
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            if not name.endswith(".mpy"):
                continue
            path = os.path.join(dirpath, name)
            dest = os.path.relpath(path, tree).replace(os.sep, "/")
            with open(path, "rb") as f:
                data = f.read()
            if data[2] != 0:  # arch and sub-version set: the file holds machine code
                native.append(dest)
                continue
            check = os.path.join(OUT, "check.mpy")
            proc = subprocess.run([mpy_cross, "-s", dest[:-4] + ".py", "-o", check,
                                   source_of(dest)], capture_output=True)
            with open(check, "rb") as f:
                same = f.read() == data
            if proc.returncode != 0 or not same:
                raise RunError("%s: the deployed .mpy is not the bytecode-only build" % dest)
    return sorted(native)


_DECORATOR = re.compile(r"^(\s*)@micropython\.(viper|native)\s*$", re.M)


def strip_native(tree, native):
    """Each native .mpy of `tree` replaced by the bytecode-only build of its source with the
    decorator lines blanked (what tools/mptest/run.mjs loads): the same kernels, as plain
    Python, on a port that cannot load machine code."""
    mpy_cross = deploy.tool("mpy-cross", "MPY_CROSS")
    for dest in native:
        with open(source_of(dest)) as f:
            text = _DECORATOR.sub(r"\1# (viper decorator stripped for this port)", f.read())
        src = os.path.join(OUT, "stripped.py")
        with open(src, "w") as f:
            f.write(text)
        proc = subprocess.run([mpy_cross, "-s", dest[:-4] + ".py", "-o",
                               os.path.join(tree, dest), src], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RunError("%s: the stripped build failed: %s" % (dest, proc.stderr.strip()))


def native_module(dest):
    """'lib/audio/g711_viper.mpy' -> 'audio.g711_viper' (the name the app imports)."""
    name = dest[:-4]
    if name.startswith("lib/"):
        name = name[4:]
    return name.replace("/", ".")


def qstr_pool_bytes(lines):
    """{marker index: qstr pool bytes} from "@@QSTR i" + micropython.qstr_info() lines."""
    out = {}
    for i, line in enumerate(lines[:-1]):
        if line.startswith("@@QSTR ") and lines[i + 1].startswith("qstr pool:"):
            fields = dict(f.strip().split("=") for f in lines[i + 1][10:].split(","))
            out[int(line[7:])] = int(fields["n_total_bytes"]) - int(fields["n_str_data_bytes"])
    return out


def source_of(dest):
    top = dest.split("/", 1)[0]
    rel = dest if top in ("lib", "boards") else "firmware/" + dest
    return os.path.join(ROOT, rel[:-4] + ".py")


# ---- running MicroPython -------------------------------------------------------------------


def _parse(stdout, kind, what):
    lines = stdout.splitlines()
    for line in lines:
        if line.startswith("@@DEV "):
            msg = json.loads(line[6:])
            if msg["kind"] == kind:
                msg["value"]["qstr"] = qstr_pool_bytes(lines)
                return msg["value"]
    tail = " | ".join(stdout.strip().splitlines()[-6:])
    raise RunError("%s reported nothing: %s" % (what, tail))


def run_wasm(tree, code, kind, what, session=SESSION):
    cmd = ["node", os.path.join(TOOLS, "bench", "device_run.mjs"),
           "--mount", tree + ":" + WASM_ROOT, "--mount", HARNESS + ":/harness",
           "--mount", MPSIM + ":/mpsim", "--mount", session + ":/data/session.txt",
           "--mount", os.path.join(TOOLS, "hostcompat.py") + ":/harness/hostcompat.py",
           "--chdir", WASM_ROOT, "--code",
           "import sys\nsys.path[:] = ['%s', '.frozen', '%s/lib', '/harness', '/mpsim']\n%s"
           % (WASM_ROOT, WASM_ROOT, code)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    return _parse(proc.stdout + proc.stderr, kind, what)


def run_unix(tree, code, kind, what, session=SESSION):
    binary = os.path.join(os.path.dirname(sys.executable), "micropython")
    boot = ("import sys\nsys.path[:] = [%r, '.frozen', %r, %r, %r]\nimport asyncio\n%s"
            % (tree, tree + "/lib", HARNESS, MPSIM, code))
    proc = subprocess.run([binary, "-X", "heapsize=" + UNIX_HEAP, "-c", boot], cwd=tree,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    return _parse(proc.stdout + proc.stderr, kind, what)


class Runtime:
    def __init__(self, name, arch, runner, root_in_vm, awaiter):
        self.name = name
        self.arch = arch
        self.runner = runner
        self.root_in_vm = root_in_vm  # the tree's path inside the interpreter
        self.awaiter = awaiter  # how top-level code waits for a coroutine on this port
        self.tree = None

    def boot(self, discover, session=SESSION, frames=22):
        # unix: a collection before every task step (devmeter.py); its cost is only time here.
        # frames: the server's limit_config pacing (audio deltas per second); UNPACED: none.
        args = {"root": self.root_in_vm, "session": self.session(session), "wifi": WIFI,
                "discover": discover, "every_step": self.runner is run_unix and not discover,
                "frames": frames, "turn_ms": 60000}
        code = "import devboot\n" + self.awaiter % ("devboot.main(%r)" % args)
        return self.runner(self.tree, code, "app", "%s app run" % self.name, session)

    def imports(self, mode, order, port_modules, packages):
        args = {"root": self.root_in_vm, "wifi": WIFI, "mode": mode, "order": order,
                "port_modules": port_modules, "packages": packages}
        code = "import devimports\n" + self.awaiter % ("devimports.main(%r)" % args)
        return self.runner(self.tree, code, "imports", "%s import measurement" % self.name)

    def session(self, path=SESSION):
        return "/data/session.txt" if self.runner is run_wasm else path


WASM = Runtime("WebAssembly", "xtensawin", run_wasm, WASM_ROOT, "await %s")
UNIX = Runtime("unix", "x64", run_unix, None, "asyncio.run(%s)")


def app_modules(found, root):
    """(app modules in import order, port modules) from a discovery boot. A module the app
    dropped from sys.modules after start-up (boot-only) is in the order too: see dropped()."""
    files = dict(found.get("import_files") or {})
    files.update(dict(found["modules"]))
    order = [m for m in found["order"] if (files.get(m) or "").startswith(root + "/")]
    port = sorted(m for m, f in files.items() if not (f or "").startswith(root + "/")
                  and m not in _HARNESS_MODULES)
    for name in order:
        if not files[name].endswith(".mpy"):
            raise RunError("%s was imported from %s, not a .mpy" % (name, files[name]))
    return order, port


def dropped(found, order):
    """The app modules gone from sys.modules by the end of the run: boot-only code the app
    let go once used (app/runner.py), whose heap the GC took back."""
    kept = set(m for m, _ in found["modules"])
    return [m for m in order if m not in kept]


_HARNESS_MODULES = ("devboot", "devcloud", "devimports", "devmeter", "devstub", "vclock", "vi2s",
                    "vmachine", "vnetwork", "vntptime", "machine", "network", "ntptime",
                    "hostcompat")


def packages(order, root):
    out = {}
    for name in order:
        parts = name.split(".")
        for i in range(1, len(parts)):
            pkg = ".".join(parts[:i])
            top = "" if pkg.split(".")[0] in ("app", "config", "boards") else "/lib"
            out[pkg] = root + top + "/" + pkg.replace(".", "/")
    return out


def measure(rt):
    """Everything one runtime gives: code heap (table + total) and app peaks."""
    rt.tree = stage(rt.arch)
    root = rt.root_in_vm or rt.tree
    if rt.root_in_vm is None:
        rt.root_in_vm = rt.tree
    native = check_bytecode_identical(rt.tree) if rt is WASM else None
    if native:
        strip_native(rt.tree, native)
    found = rt.boot(True)
    order, port = app_modules(found, root)
    pk = packages(order, root)
    each = rt.imports("each", order, port, pk)
    total = rt.imports("total", order, port, pk)
    boots = [rt.boot(False) for _ in range(RUNS)]
    unpaced = []
    burst = unpaced_session() if rt is WASM else None
    if burst is not None:
        unpaced = [rt.boot(False, burst, UNPACED) for _ in range(RUNS)]
    for b in boots + unpaced:
        if b["turns"] != 3 or b["errors"] or b["crashes"]:
            raise RunError("%s app run failed: %d turns, errors %s, crashes %s"
                           % (rt.name, b["turns"], b["errors"], b["crashes"]))
        if sorted(m for m, _ in b["modules"]) != sorted(m for m, _ in found["modules"]):
            raise RunError("%s: the measured runs imported other modules than the discovery run"
                           % rt.name)
    return {"native": native, "found": found, "order": order, "port": port, "each": each,
            "total": total, "boots": boots, "unpaced": unpaced, "dropped": dropped(found, order)}


UNPACED = 1000000  # deltas per second: no pacing at all
CAPTURE = os.path.join(os.path.dirname(ROOT), "shared", "fixtures", "coze-go",
                       "websocket_chat_success.txt")


def unpaced_session():
    """default_session.txt with each turn's answer replaced by the coze-go capture's (56 audio
    deltas of up to ~20 KB, the real server's unpaced burst), written under out/; None where
    ../shared is absent."""
    if not os.path.exists(CAPTURE):
        return None
    with open(CAPTURE, "rb") as f:
        lines = f.read().split(b"\n")
    pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
    start = [i for i, (_, m) in enumerate(pairs) if b'"conversation.chat.created"' in m][0]
    answer = [p for p in pairs[start:] if p[0] == b"receive"]
    with open(SESSION, "rb") as f:
        lines = f.read().split(b"\n")
    out, skipping = [], False
    for i in range(0, len(lines) - 1, 2):
        kind, msg = lines[i], lines[i + 1]
        if kind == b"send":
            skipping = b'"input_audio_buffer.complete"' in msg
            out.append((kind, msg))
            if skipping:
                out.extend(answer)
        elif not skipping:
            out.append((kind, msg))
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "unpaced_session.txt")
    with open(path, "wb") as f:
        f.write(b"".join(k + b"\n" + m + b"\n" for k, m in out))
    return path


# ---- rows ------------------------------------------------------------------------------------


def _table(each):
    """[module, bytes, of which qstr pool growth] by size."""
    pools = each["qstr"]
    out = []
    for i, (name, size) in enumerate(each["rows"]):
        grown = pools[i + 1] - pools[i] if i in pools and i + 1 in pools else 0
        out.append([name, size, grown])
    return sorted(out, key=lambda r: (-r[1], r[0]))


def _pool_note(table):
    grown = [(m, g) for m, _, g in table if g > 0]
    return ", ".join("%s %d" % p for p in grown) or "none"


def _peaks(r):
    peaks = sorted(b["entry_peak"] for b in r["boots"])
    exits = sorted(b["exit_peak"] for b in r["boots"])
    return statistics.median(peaks), peaks, exits


def rows_from(w, u):
    rows = []
    # The stripped kernels' heap (see the module docstring) is measured and left out.
    natives = [native_module(d) for d in w["native"]]
    w_table = _table(w["each"])
    # The module's own heap, not a qstr pool its names happened to overflow into (that stays).
    w_kernels = dict((m, b - grown) for m, b, grown in w_table if m in natives)
    cut = sum(w_kernels.values())
    boot_only = ", ".join("%s %d" % (m, b) for m, b, _ in w_table if m in w["dropped"])
    w_code, u_code = w["total"]["total"] - cut, u["total"]["total"]
    w_sum = sum(b for _, b in w["each"]["rows"])
    u_sum = sum(b for _, b in u["each"]["rows"])
    failed = [name for name, _ in w["found"]["failed"]]
    top = ", ".join("%s %d" % (m, b) for m, b, _ in w_table[:5] if m not in w_kernels)
    rows.append(row(
        "device_code_heap_bytes", w_code, "micropython", w_table,
        "WebAssembly (32-bit): heap kept by importing what the booted app imported (discovered "
        "by an import hook over a 3-turn run: main.py compiled from source, then %d modules "
        "of the deployed xtensawin .mpy tree, every non-viper file byte-identical to "
        "bytecode-only mpy-cross output), in one fresh interpreter, real collections before "
        "and after (%d), minus the %d viper modules run here as stripped bytecode (%s: %d B; "
        "on the ESP32 their machine code sits outside the heap; unix x64 keeps %d B of heap for "
        "its native build of them); per module (table, same order, one interpreter) they sum "
        "to %d. Counted, though the app drops them from sys.modules once booted, so the GC "
        "takes them back (device_app_ready_heap_bytes shows it): %s. Not counted: the port's "
        "own modules (%s); imports that failed: %s. Top: %s"
        % (len(w["order"]), w["total"]["total"], len(w_kernels),
           ", ".join("%s %d" % kv for kv in sorted(w_kernels.items())), cut,
           sum(b for m, b in u["each"]["rows"] if m.endswith("_viper")), w_sum,
           boot_only or "none", ", ".join(w["port"]), ", ".join(failed) or "none", top)
        + ". A module whose names overflowed the interned-string (qstr) pool carries the next "
        "pool (table column 3): %s" % _pool_note(w_table)))
    for b in w["boots"]:
        b["raw_entry_peak"] = b["entry_peak"]
        b["entry_peak"] -= cut
        b["exit_peak"] -= cut
    w_peak, w_peaks, w_exits = _peaks(w)
    u_peak, u_peaks, u_exits = _peaks(u)
    b0 = w["boots"][0]
    rows.append(row(
        "device_app_peak_heap_bytes", w_peak, "micropython", None,
        "WebAssembly (32-bit): the deployed app booting on the default config (Coze, "
        "push-to-talk, PCM 16 kHz, esp32s3_inmp441) on the simulator's virtual hardware, "
        "connecting to an in-memory WebSocket server and playing 3 push-to-talk turns of "
        "tests/data/bench/default_session.txt paced by its limit_config (%d messages, %d B "
        "into the player, %d underruns): peak of gc.mem_alloc() after a real collection at "
        "every scheduler pass (%d passes; peak in %s), code included (and ~2 KB of the "
        "stand-ins' own buffers), above the heap before the first app import; median of %d "
        "runs %s, each in a fresh interpreter, less the %d B of the stripped viper modules "
        "(as in device_code_heap_bytes; as measured: %s). Upper bound counting the garbage of "
        "the busiest pass too: %s"
        % (b0["messages"], b0["player"]["bytes_in"], b0["player"]["underruns"], b0["passes"],
           b0["where"], RUNS, w_peaks, cut, sorted(b["raw_entry_peak"] for b in w["boots"]),
           w_exits)))
    if w["unpaced"]:
        for b in w["unpaced"]:
            b["entry_peak"] -= cut
        ups = sorted(b["entry_peak"] for b in w["unpaced"])
        b0 = w["unpaced"][0]
        rows.append(row(
            "device_app_peak_heap_bytes_unpaced", statistics.median(ups), "micropython", None,
            "WebAssembly (32-bit): the same default config and the same 3 turns, each answered "
            "with the coze-go capture's reply sent unpaced (%d messages, the largest ~20 KB; "
            "%d B into the player): peak as in device_app_peak_heap_bytes, median of %d runs %s"
            % (b0["messages"], b0["player"]["bytes_in"], RUNS, ups)))
    else:
        rows.append(row("device_app_peak_heap_bytes_unpaced", None, "micropython", None,
                        "skipped: ../shared/fixtures is absent (the row replays the coze-go "
                        "capture)"))
    w_ready = statistics.median(b["ready"] - cut for b in w["boots"])
    rows.append(row(
        "device_app_ready_heap_bytes", w_ready, "micropython", None,
        "WebAssembly (32-bit): the same runs, the heap after a real collection once the app is "
        "booted, connected and idle in READY, before the first turn (median of %d: %s), less "
        "the %d B of the stripped viper modules: code and buffers the app keeps, boot-only "
        "modules already dropped" % (RUNS, sorted(b["ready"] - cut for b in w["boots"]), cut)))
    rows.append(row(
        "device_code_heap_bytes_unix", u_code, "micropython-unix", _table(u["each"]),
        "unix port, 8-byte pointers (cross-check, not the device's figure): the same imports "
        "from the tree compiled with -march=x64 (viper kernels native, outside the heap), one "
        "fresh interpreter; per module they sum to %d" % u_sum))
    rows.append(row(
        "device_app_peak_heap_bytes_unix", u_peak, "micropython-unix", None,
        "unix port, 8-byte pointers (cross-check): the same 3-turn app run, the device's "
        "asyncio.StreamReader/Writer path over the virtual I2S; peak of gc.mem_alloc() after a "
        "collection before every task step (-X heapsize=%s, so the GC never runs on its own); "
        "median of %d runs %s (peak in %s); upper bound counting one step's garbage %s"
        % (UNIX_HEAP, RUNS, u_peaks, u["boots"][0]["where"], u_exits)))
    rows.append(row(
        "heap_ratio_unix_vs_32bit", round(u_peak / w_peak, 3), "micropython-unix", None,
        "device_app_peak_heap_bytes_unix / device_app_peak_heap_bytes (%d / %d): scale a "
        "32-bit heap by this for -X heapsize; code alone: %.3f (%d / %d)"
        % (u_peak, w_peak, u_code / w_code, u_code, w_code), unit="x"))
    return rows


# Issue 15: 96 KB of a no-PSRAM ESP32's ~112 KB heap, 16 KB left for fragmentation.
TARGETS = {"device_app_peak_heap_bytes": "<= 98304",
           "device_app_peak_heap_bytes_unpaced": "<= 98304"}


def row(key, value, tier, table, what, unit="B"):
    out = {"key": key, "value": value, "unit": unit, "target": TARGETS.get(key), "tier": tier,
           "what": what}
    if table is not None:
        out["table"] = table
        out["table_columns"] = ["module", "bytes", "of them a new qstr pool"]
    return out


def run():
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        # The two runtimes side by side: the WebAssembly one keeps a core busy, the unix one
        # mostly waits on its real-time session.
        w_job = pool.submit(measure, WASM)
        u_job = pool.submit(measure, UNIX)
        w, u = w_job.result(), u_job.result()
    return rows_from(w, u)


if __name__ == "__main__":
    for r in run():
        print("%-34s %10s %-4s %s" % (r["key"], r["value"], r["unit"], r["what"]))
        for module, size, pool in r.get("table", [])[:TABLE_TOP]:
            print("    %-34s %8d %s" % (module, size, "(qstr pool +%d)" % pool if pool else ""))
