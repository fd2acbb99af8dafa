# Heap readings for the device benchmarks, under MicroPython (WebAssembly or unix port). Never
# deployed; tools/bench/bench_device.py runs it.
#
# settle(): gc.mem_alloc() after a real collection. On the unix port gc.collect() collects at
# once (scanning the C stack conservatively). On the WebAssembly port it only sets a flag: the
# port (ports/webassembly/main.c, MICROPY_GC_SPLIT_HEAP_AUTO) collects when control returns to
# JavaScript, with no C stack left to scan, and grows the heap instead when it fills. So settle()
# awaits a sleep that returns to JS. Python objects handed to JS (the scheduler's setTimeout
# callback, a top-level await's Promise callbacks) stay referenced from the port's proxy table
# until V8's FinalizationRegistry frees them, ~30 bytes per top-level await
# (tests/mp/test_soak_ptt.py's header has the measurement), so settle() first runs V8's own GC
# when Node lets it (process.getBuiltinModule), and callers run inside an asyncio task.
#
# PassMeter: the peak heap while the app runs, read at every pass of the scheduler. On
# WebAssembly the scheduler runs all due tasks in one call from a JS timer (asyncio.core.
# _run_iter) and nothing is freed inside a pass, so wrapping that call gives two exact figures:
# mem_alloc() on entry, right after the collection requested at the previous exit (the live heap
# between passes), and on exit (that plus everything allocated in the pass, an upper bound of
# the live heap at any moment inside it). The unix port's loop has no such call; its
# IOQueue.wait_io_event(dt) runs before every task step, so the meter reads there, and collects
# only when the loop is about to idle (dt != 0), the unix counterpart of returning to JS; run with
# a heap large enough that the GC never collects on its own, or "exit" stops being a bound.
import asyncio
import gc
import sys

WASM = sys.platform == "webassembly"
_JS_GC_EVERY_MS = 250
_js_gc = []


def js_gc():
    """Run V8's GC (WebAssembly only); False when it cannot be forced here."""
    if not WASM:
        return False
    if not _js_gc:
        try:
            import js

            get = js.process.getBuiltinModule  # Node >= 20.16
            get("v8").setFlagsFromString("--expose-gc")
            _js_gc.append(get("vm").runInNewContext("gc"))
        except Exception:  # noqa: BLE001 - any failure means "cannot force it here"
            _js_gc.append(None)
    if _js_gc[0] is None:
        return False
    _js_gc[0]()
    return True


async def settle():
    """The heap after a real collection; call it from an asyncio task with nothing else due."""
    if WASM:
        if js_gc():
            await asyncio.sleep_ms(10)  # V8 runs FinalizationRegistry callbacks in a later task
        gc.collect()
        await asyncio.sleep_ms(2)  # the loop returns to JS, which collects
    else:
        gc.collect()
        gc.collect()
    return gc.mem_alloc()


class PassMeter:
    def __init__(self):
        self.entry_peak = 0  # highest live heap between passes (right after a collection)
        self.exit_peak = 0  # highest heap at the end of a pass (upper bound inside it)
        self.passes = 0
        self.collections = 0
        self.where = None  # callable -> short text: where the app was at the exit peak
        self.where_peak = ""
        self.where_entry = ""
        self._orig = None
        self._last_js_gc = 0
        self.js_gcs = 0
        self.every_step = False  # unix: collect before every task step, not only when idling

    def install(self):
        import asyncio.core as core

        if WASM:
            self._orig = core._run_iter
            core._run_iter = self._wasm_pass
        else:
            queue = core._io_queue
            self._orig = queue.wait_io_event
            queue.wait_io_event = self._unix_wait

    def uninstall(self):
        import asyncio.core as core

        if WASM:
            core._run_iter = self._orig
        else:
            del core._io_queue.wait_io_event  # back to the class's method

    def _exit(self, used):
        if used > self.exit_peak:
            self.exit_peak = used
            if self.where is not None:
                self.where_peak = self.where()

    def _wasm_pass(self):
        import time

        used = gc.mem_alloc()
        if used > self.entry_peak:
            self.entry_peak = used
            if self.where is not None:
                self.where_entry = self.where()
        try:
            self._orig()
        finally:
            self.passes += 1
            self._exit(gc.mem_alloc())
            now = time.ticks_ms()
            if time.ticks_diff(now, self._last_js_gc) >= _JS_GC_EVERY_MS:
                # Frees the proxy-table slots JS holds; its callbacks run by the next pass.
                self._last_js_gc = now
                self.js_gcs += js_gc()
            gc.collect()  # runs when this call returns to JS
            self.collections += 1

    def _unix_wait(self, dt):
        self.passes += 1
        self._exit(gc.mem_alloc())
        if dt != 0 or self.every_step:
            gc.collect()
            self.collections += 1
            used = gc.mem_alloc()
            if used > self.entry_peak:
                self.entry_peak = used
                if self.where is not None:
                    self.where_entry = self.where()
        return self._orig(dt)
