"""WebSocket send path on CPython: our send_inplace against a naive client, same run.

The naive client is what common MicroPython WebSocket clients do per frame: a fresh os.urandom
key, struct.pack for the header, masking with a generator into bytes(...), then header + key +
data concatenated. Ours writes the header into reserved room, masks in place and writes a cached
view. Both write into the same counting writer (no copy), so only frame building is compared.
Here the viper kernel runs as plain Python; the device-side numbers (allocation in MicroPython,
which is what matters on a 100 KB heap) come from tests/mp/bench_ws.py.
usage: .venv/bin/python tools/bench/bench_ws.py
"""

import os
import struct
import sys
import time
import tracemalloc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("lib", ""):
    if os.path.join(ROOT, _sub) not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, _sub))

from tools import hostcompat  # noqa: E402,F401 - MicroPython shims before device modules

TIER = "cpython"  # (this statement also keeps import sorting from moving websock above compat)

from websock import HEADER_ROOM, TEXT, WebSocket  # noqa: E402


class CountingWriter:
    """Takes frames like MicroPython's Stream when the socket accepts everything."""

    def __init__(self):
        self.out_buf = b""
        self.bytes = 0

    def write(self, buf):
        self.bytes += len(buf)

    async def drain(self):
        pass

    async def readinto(self, mv):
        return 0


def naive_send(writer, opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0xFF, n)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    writer.write(header + mask + data)


def append_event():
    import base64

    delta = base64.b64encode(bytes(i * 3 & 0xFF for i in range(640)))
    return b'{"id":"a1","event_type":"input_audio_buffer.append","data":{"delta":"%s"}}' % delta


def _ours(payload):
    payload = bytearray(payload)  # a bytearray source: CPython copies other types first
    ws = WebSocket(CountingWriter(), max_message=1024)
    n = len(payload)
    buf = bytearray(HEADER_ROOM + n)

    def send():
        buf[HEADER_ROOM:] = payload  # masking destroyed the last one: rebuild (counted here)
        ws.send_inplace(buf, n, TEXT)  # returns a finished awaitable: nothing left to wait for

    return send


def _naive(payload):
    writer = CountingWriter()

    def send():
        naive_send(writer, TEXT, payload)

    return send


def _per_frame_us(send, frames, repeats=5):
    # Best of a few runs: other processes share the machine, and the minimum is the least noisy.
    send()
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(frames):
            send()
        us = (time.perf_counter() - t0) * 1e6 / frames
        best = us if best is None else min(best, us)
    return best


def _peak_bytes(send):
    send()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        send()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def run():
    rows = []
    for label, payload, frames in (
        ("append20ms", append_event(), 200),
        ("16k", bytes(range(256)) * 64, 10),
    ):
        what = "%d-byte text frame" % len(payload)
        ours_us = _per_frame_us(_ours(payload), frames)
        naive_us = _per_frame_us(_naive(payload), frames)
        ours_b = _peak_bytes(_ours(payload))
        naive_b = _peak_bytes(_naive(payload))
        key = "ws.cpython.send.%s." % label
        rows += [
            _row(key + "ours_us", ours_us, "us", None, "send_inplace per " + what),
            _row(key + "naive_us", naive_us, "us", None, "naive client per " + what),
            _row(key + "speedup", naive_us / ours_us, "x", None, "naive time / ours, " + what),
            _row(key + "ours_mbps", len(payload) / ours_us, "MB/s", None, "send_inplace"),
            _row(key + "naive_mbps", len(payload) / naive_us, "MB/s", None, "naive client"),
            _row(key + "ours_peak_bytes", ours_b, "B", None, "tracemalloc peak, one frame"),
            _row(key + "naive_peak_bytes", naive_b, "B", None, "tracemalloc peak, one frame"),
        ]
    return rows


def _row(key, value, unit, target, what):
    if isinstance(value, float):
        value = round(value, 3)
    return {"key": key, "value": value, "unit": unit, "target": target, "tier": TIER, "what": what}


if __name__ == "__main__":
    for r in run():
        print("%-36s %10s %-5s %s" % (r["key"], r["value"], r["unit"], r["what"]))
