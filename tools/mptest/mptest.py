# The MicroPython-side half of the test runners: tools/mptest/run.mjs (WebAssembly, in Node)
# and tools/mptest/run_unix.py (the unix port) load it into the interpreter and set TIER, ROOT
# and SHARED. Test modules define `test_*` functions, plain or `async`; a test passes when it
# returns without raising. Helpers:
#   alloc(fn, *args)         heap bytes one call allocates (gc.mem_alloc delta, GC held off)
#   await alloc_async(...)   the same for a coroutine function
#   skip(reason)             mark the running test skipped
#   bench(key, value, ...)   report a benchmark row to `make bench`
#   path('/tests/data/x')    that file in this tier: the tree is mounted at / in WebAssembly
#                            and lives under a temporary directory on unix, so never open a
#                            literal absolute path
#   SHARED                   path('/shared') when ../shared/fixtures is there, else None
#   TIER                     "webassembly" or "unix", for the rare test that holds in one only
#   is_viper(fn)             True when fn was compiled by the viper emitter
#   need_native()            skip unless this tier compiles viper (the WebAssembly one cannot)
import gc
import sys

import micropython

try:
    import hostcompat  # noqa: F401 - the host's `compat` (stream fakes), before any test module
except ImportError:  # CPython (tests/test_soak_heap.py): tools/hostcompat.py, loaded already
    from tools import hostcompat  # noqa: F401

TIER = "webassembly"
ROOT = ""
SHARED = None


class Skipped(Exception):
    pass


def skip(reason):
    raise Skipped(reason)


def need_shared():
    if SHARED is None:
        skip("../shared/fixtures is absent (this test reads the recorded coze-go captures)")
    return SHARED


def path(name):
    return ROOT + name


def _bytecode():
    pass


@micropython.viper
def _viper() -> int:
    return 1


def is_viper(fn):
    # A viper function is an object of its own type (it prints as "function" all the same); the
    # WebAssembly runner blanks the decorator above too, and then _viper is plain bytecode.
    return type(fn) is type(_viper) and type(_viper) is not type(_bytecode)


def need_native():
    if TIER != "unix":
        skip("the %s port has no native emitter: viper kernels run as plain Python" % TIER)


def alloc(fn, *args):
    # Collect first and hold the GC off, so the delta is exactly what the call allocated.
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        fn(*args)
        after = gc.mem_alloc()
    finally:
        gc.enable()
    return after - before


async def alloc_async(fn, *args):
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        await fn(*args)
        after = gc.mem_alloc()
    finally:
        gc.enable()
    return after - before


def bench(key, value, unit="", target=None, tier="micropython", what=""):
    import json

    row = {"key": key, "value": value, "unit": unit, "target": target, "tier": tier, "what": what}
    print("@@BENCH " + json.dumps(row))


def _is_awaitable(obj):
    # In MicroPython a coroutine is a generator object.
    return hasattr(obj, "send") and hasattr(obj, "throw")


async def run_module(name, name_filter=""):
    passed = failed = skipped = 0
    try:
        module = __import__(name)
    except Exception as exc:  # noqa: BLE001 - report any import failure as a failed module
        print("FAIL %s (import)" % name)
        sys.print_exception(exc)
        print("@@RESULT 0 1 0")
        return
    names = sorted(n for n in dir(module) if n.startswith("test_"))
    for test_name in names:
        if name_filter and name_filter not in test_name and name_filter not in name:
            continue
        label = "%s::%s" % (name, test_name)
        try:
            result = getattr(module, test_name)()
            if _is_awaitable(result):
                await result
        except Skipped as exc:
            skipped += 1
            print("SKIP %s: %s" % (label, exc))
        except Exception as exc:  # noqa: BLE001 - every failure is reported, then counted
            failed += 1
            print("FAIL %s" % label)
            sys.print_exception(exc)
        else:
            passed += 1
            print("PASS %s" % label)
        gc.collect()
    print("@@RESULT %d %d %d" % (passed, failed, skipped))
