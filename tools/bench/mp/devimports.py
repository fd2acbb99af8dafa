# The heap the device's code takes, module by module, under MicroPython (the deployed tree).
# Never deployed; tools/bench/bench_device.py runs it with the import order a booted app
# recorded (devboot.py's ImportLog: each module after everything its import pulled in).
#
# One interpreter, one module at a time, in that order, each between two real collections
# (devmeter.settle()), so an increment is what that module keeps: its bytecode and constants,
# function and class objects, its globals dict, its new qstrs, its sys.modules entry; whatever
# the load itself allocated and dropped is collected first. The sum is checked against the same
# imports measured in one go (mode "total", a fresh interpreter). The port's own modules the
# app uses (asyncio, json, ...; frozen or C, and not the ESP32's own builds) and the harness are
# imported before the baseline, so they are not counted.
#
# A package whose __init__ imports its submodules (websock) finishes after them; to measure a
# submodule alone, its package is stood in for by an empty module with the package's __path__
# until the package's own turn comes, when its submodules are bound as its attributes, as a
# normal import leaves them. main.py is source on the board, compiled at boot: it is measured
# the same way, compiled and run without its final run() call.
#
# Interned names (qstrs) live in pools that grow by doubling, so the module whose names
# overflow a pool pays for the whole next one (4-9 KB). After each measurement the port's
# micropython.qstr_info() line is printed after a "@@QSTR i" marker; the host reads the pool
# bytes from it (n_total_bytes - n_str_data_bytes) and shows that share in the table.
import asyncio
import gc
import json
import sys

import devboot
import devmeter
import micropython


def emit(kind, value):
    print("@@DEV " + json.dumps({"kind": kind, "value": value}))


def _stub(name, path):
    # A fresh, empty module (MicroPython cannot instantiate `module` itself).
    sys.modules.pop("devstub", None)
    mod = __import__("devstub")
    del sys.modules["devstub"]
    mod.__path__ = path
    sys.modules[name] = mod


def _prepare(name, root, stubs):
    """Before importing `name`: stand-ins for missing parents; the package's own stand-in
    removed when `name` is that package."""
    parts = name.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        if parent not in sys.modules:
            _stub(parent, stubs[parent])
    if name in sys.modules:  # a stand-in: the real package is measured now
        del sys.modules[name]


def _bind_submodules(name):
    pkg = sys.modules[name]
    prefix = name + "."
    for key, mod in list(sys.modules.items()):
        if key.startswith(prefix) and "." not in key[len(prefix):]:
            setattr(pkg, key[len(prefix):], mod)


def _qstr_info(i):
    print("@@QSTR %d" % i)
    micropython.qstr_info()


def _exec_main(root, keep):
    g = {"__name__": "__main__"}
    exec(compile(devboot.main_py_body(root + "/main.py"), "main.py", "exec"), g)
    keep.append(g)


async def run(args):
    devboot.install_hardware(args["wifi"])
    for name in args["port_modules"]:
        __import__(name)
    root = args["root"]
    stubs = args["packages"]  # package name -> its directory on the device
    keep = []  # main.py's globals: on the board they live as long as the app
    noise = []
    base = await devmeter.settle()
    for _ in range(3):
        noise.append(await devmeter.settle() - base)
    rows = []
    if args["mode"] == "total":
        _exec_main(root, keep)
        for name in args["order"]:
            _prepare(name, root, stubs)
            __import__(name)
            if name in stubs:
                _bind_submodules(name)
        total = await devmeter.settle() - base
    else:
        _qstr_info(0)
        before = await devmeter.settle()
        _exec_main(root, keep)
        rows.append(["main.py", await devmeter.settle() - before])
        _qstr_info(1)
        for name in args["order"]:
            _prepare(name, root, stubs)
            before = await devmeter.settle()
            __import__(name)
            if name in stubs:
                _bind_submodules(name)
            rows.append([name, await devmeter.settle() - before])
            _qstr_info(len(rows))
        total = await devmeter.settle() - base
    files = {}
    for name in args["order"]:
        files[name] = getattr(sys.modules[name], "__file__", None)
    gc.collect()
    emit("imports", {"mode": args["mode"], "rows": rows, "total": total, "base": base,
                     "noise": noise, "files": files, "platform": sys.platform})


async def main(args):
    await asyncio.create_task(run(args))
