# `make bench` rows for the WebSocket send path under real MicroPython: heap bytes and time per
# 20 ms input_audio_buffer.append frame, send_inplace against a naive client, in the same run.
#
# The naive client is what common MicroPython WebSocket clients do per frame: a fresh random key
# (os.urandom, or random.getrandbits where the port lacks it, as this WebAssembly one does),
# struct.pack for the header, generator masking into bytes(...), then header + key + data.
# Both write into the same kind of CountingWriter, which takes frames as MicroPython's Stream does
# when the socket accepts everything (empty out_buf) and only counts them, so the rows compare
# frame building alone. Times are WebAssembly without viper: compare them with each other, not
# with the ESP32.
import gc
import os
import random
import struct
import time

from test_ws_send import _append_event
from websock import HEADER_ROOM, TEXT, WebSocket

import mptest

_FRAMES = 50


class CountingWriter:
    def __init__(self):
        self.out_buf = b""
        self.sent = 0

    def write(self, buf):
        self.sent += len(buf)

    def drain(self):
        yield

    async def readinto(self, mv):
        return 0


def _key():
    try:
        return os.urandom(4)
    except AttributeError:
        return random.getrandbits(32).to_bytes(4, "big")


def naive_send(writer, opcode, payload):
    mask = _key()
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    else:
        header = struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    writer.write(header + mask + data)


def _measure(send):
    send()  # warm-up (ours caches its slice view here)
    alloc = mptest.alloc(send)
    t0 = time.ticks_us()
    for _ in range(_FRAMES):
        send()
    us = time.ticks_diff(time.ticks_us(), t0) / _FRAMES
    return alloc, us


def test_bench_send_append_frame():
    event = _append_event(bytes(i * 3 & 0xFF for i in range(640)))
    n = len(event)
    ours_stream = CountingWriter()
    ws = WebSocket(ours_stream, max_message=1024)
    buf = bytearray(HEADER_ROOM + n)

    def ours():
        buf[HEADER_ROOM:] = event  # rebuild: masking destroyed the last payload
        ws.send_inplace(buf, n, TEXT)  # the finished awaitable it returns needs no await

    naive_stream = CountingWriter()

    def naive():
        naive_send(naive_stream, TEXT, event)

    ours_alloc, ours_us = _measure(ours)
    naive_alloc, naive_us = _measure(naive)
    assert ours_stream.sent == (_FRAMES + 2) * (n + 8)  # 8: 4-byte header + key, per frame
    gc.collect()
    what = "%d-byte input_audio_buffer.append frame" % n
    mptest.bench("ws.mp.send_inplace.alloc_bytes", ours_alloc, "B", "<= 0", what=what)
    mptest.bench("ws.mp.naive_send.alloc_bytes", naive_alloc, "B", None, what=what)
    mptest.bench("ws.mp.send_inplace.us", ours_us, "us", None, what="wasm, no viper; " + what)
    mptest.bench("ws.mp.naive_send.us", naive_us, "us", None, what="wasm; " + what)
    mptest.bench("ws.mp.send.speedup", naive_us / ours_us, "x", None, what="naive time / ours")
    print(
        "ws send per frame: ours %d B %.0f us, naive %d B %.0f us (%.1fx faster, %d B less)"
        % (
            ours_alloc,
            ours_us,
            naive_alloc,
            naive_us,
            naive_us / ours_us,
            naive_alloc - ours_alloc,
        )
    )
    assert ours_alloc == 0
