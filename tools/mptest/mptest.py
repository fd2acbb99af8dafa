# The MicroPython-side half of the test runner (tools/mptest/run.mjs loads it into the
# interpreter). Test modules define `test_*` functions, plain or `async`; a test passes when it
# returns without raising. Helpers:
#   alloc(fn, *args)         heap bytes one call allocates (gc.mem_alloc delta, GC held off)
#   await alloc_async(...)   the same for a coroutine function
#   skip(reason)             mark the running test skipped
#   bench(key, value, ...)   report a benchmark row to `make bench`
#   SHARED                   '/shared' when ../shared/fixtures is mounted, else None
import gc
import sys

SHARED = None


class Skipped(Exception):
    pass


def skip(reason):
    raise Skipped(reason)


def need_shared():
    if SHARED is None:
        skip("../shared/fixtures is absent (this test reads the recorded coze-go captures)")
    return SHARED


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
