# The WebSocket client under real MicroPython over a fake stream: the zero-allocation audio send
# path (gc.mem_alloc), back-pressure, pings between fragments, close codes.
#
# FakeStream behaves like MicroPython's asyncio.Stream as the client uses it: write() hands the
# bytes to the "socket" at once and keeps only what the socket refused in `out_buf`; drain() is a
# generator that flushes out_buf, like Stream.drain(); readinto() serves scripted incoming bytes.
# How the fake's own work is kept out of the count: sent bytes land in `sink`, a bytearray
# allocated before any measurement and filled by index (no slices, no new objects), so copying
# adds nothing. write() also measures itself (gc.mem_alloc before/after its body) into
# `own_alloc`, and the test subtracts that and asserts it separately (it is 0 as well).
import asyncio
import gc

import kernel_util
from websock import (
    BINARY,
    HEADER_ROOM,
    TEXT,
    ConnectionClosed,
    MessageTooBig,
    WebSocket,
    frame,
    kernels,
)
from websock.frame import CLOSE, CONT, PING, PONG

import mptest

use_kernel = kernel_util.select(kernels)  # "portable": the same source as bytecode


class FakeStream:
    def __init__(self, sink_size=8192, incoming=b"", accept_per_write=1 << 29):
        self.sink = bytearray(sink_size)
        self.sent = 0
        self.out_buf = b""
        self.own_alloc = 0
        self.incoming = incoming
        self.in_at = 0
        self.accept = accept_per_write  # socket space per write: the rest waits in out_buf
        self.closed = False

    def _take(self, buf, count):
        sink = self.sink
        at = self.sent
        i = 0
        while i < count:
            sink[at] = buf[i]
            at += 1
            i += 1
        self.sent = at

    def write(self, buf):
        before = gc.mem_alloc()
        if self.closed:
            raise OSError(32)  # EPIPE
        n = len(buf)
        k = n if n <= self.accept else self.accept
        self._take(buf, k)
        self.own_alloc += gc.mem_alloc() - before
        if k < n:
            self.out_buf = bytes(buf[k:])  # Stream keeps a copy of what the socket refused

    def drain(self):
        # A generator, like MicroPython's Stream.drain(): calling it allocates.
        yield from asyncio.sleep_ms(0)
        self._take(self.out_buf, len(self.out_buf))
        self.out_buf = b""

    async def readinto(self, mv):
        data = self.incoming
        k = min(len(mv), len(data) - self.in_at)
        i = 0
        while i < k:
            mv[i] = data[self.in_at + i]
            i += 1
        self.in_at += k
        return k

    def close(self):
        self.closed = True

    async def wait_closed(self):
        pass

    def frames(self):
        """Client frames written so far, unmasked: list of (first byte, payload bytes)."""
        out = []
        s = self.sink
        i = 0
        while i < self.sent:
            b0 = s[i]
            n = s[i + 1] & 0x7F
            i += 2
            if n == 126:
                n = (s[i] << 8) | s[i + 1]
                i += 2
            elif n == 127:
                n = (s[i + 6] << 24) | (s[i + 7] << 16) | (s[i + 8] << 8) | s[i + 9]
                i += 8
            key = s[i : i + 4]
            i += 4
            out.append((b0, bytes(s[i + j] ^ key[j & 3] for j in range(n))))
            i += n
        return out


def _append_event(pcm_bytes):
    # A Coze input_audio_buffer.append for 20 ms of 16 kHz PCM (640 bytes -> 856 base64 chars).
    import binascii

    delta = binascii.b2a_base64(bytes(pcm_bytes))[:-1]
    return b'{"id":"a1","event_type":"input_audio_buffer.append","data":{"delta":"%s"}}' % delta


async def test_send_inplace_allocates_nothing_in_steady_state():
    event = _append_event(bytes(i * 3 & 0xFF for i in range(640)))
    n = len(event)
    buf = bytearray(HEADER_ROOM + n)
    for kernel in ("viper", "portable"):
        use_kernel(kernel)
        fake = FakeStream(sink_size=(HEADER_ROOM + n) * 12)
        ws = WebSocket(fake, max_message=1024)
        buf[HEADER_ROOM:] = event
        await ws.send_inplace(buf, n, TEXT)  # first send caches the slice view
        counts = []
        for _ in range(10):
            buf[HEADER_ROOM:] = event  # masking destroyed it: rebuild (this copy is not counted)
            fake.own_alloc = 0
            total = await mptest.alloc_async(ws.send_inplace, buf, n, TEXT)
            counts.append((total - fake.own_alloc, fake.own_alloc))
        assert counts == [(0, 0)] * 10, (kernel, counts)
        sent = fake.frames()
        assert len(sent) == 11
        keys = set()
        for i, (b0, payload) in enumerate(sent):
            assert b0 == 0x81 and payload == event, (kernel, i)
        for i in range(11):  # a fresh key per frame: read them back out of the sink
            start = i * (HEADER_ROOM - 10 + n + 4)
            keys.add(bytes(fake.sink[start + 4 : start + 8]))
        assert len(keys) == 11
    use_kernel("viper")


async def test_back_pressure_drains_and_keeps_bytes():
    fake = FakeStream(accept_per_write=100)
    ws = WebSocket(fake, max_message=1024)
    buf = bytearray(HEADER_ROOM + 700)
    for round_ in range(3):
        for i in range(700):
            buf[HEADER_ROOM + i] = (i + round_) & 0xFF
        await ws.send_inplace(buf, 700, BINARY)
        assert fake.out_buf == b""  # the awaitable was the drain
    await ws.send_text("after")
    sent = fake.frames()
    assert [b0 for b0, _ in sent] == [0x82, 0x82, 0x82, 0x81]
    for round_ in range(3):
        assert sent[round_][1] == bytes((i + round_) & 0xFF for i in range(700))
    assert sent[3][1] == b"after"


def _in_task(fn):
    # The WebAssembly port runs a test at top level, outside any Task, and that top-level
    # coroutine cannot be thrown into; asyncio.wait_for_ms (used by the close handshake) throws
    # into its caller. Run such tests in a real Task, as they are on the device.
    async def wrapper():
        return await asyncio.create_task(fn())

    return wrapper


@_in_task
async def test_recv_answers_pings_mid_message_and_echoes_close():
    incoming = (
        bytes(frame.encode(TEXT, b'{"event_type":', fin=False))
        + bytes(frame.encode(PING, b"k1"))
        + bytes(frame.encode(CONT, b'"chat.created"}'))
        + bytes(frame.encode(PONG, b""))
        + bytes(frame.encode(BINARY, bytes(range(200))))
        + bytes(frame.encode(CLOSE, b"\x03\xe8done"))
    )
    fake = FakeStream(incoming=incoming)
    ws = WebSocket(fake, max_message=256)
    op, mv = await ws.recv()
    assert op == TEXT and bytes(mv) == b'{"event_type":"chat.created"}'
    assert isinstance(mv, memoryview)
    op, mv = await ws.recv()
    assert op == BINARY and bytes(mv) == bytes(range(200))
    try:
        await ws.recv()
    except ConnectionClosed as exc:
        assert (exc.code_sent, exc.code_received, exc.reason) == (1000, 1000, "done")
    else:
        raise AssertionError("close frame not reported")
    assert ws.closed and fake.closed
    assert fake.frames() == [(0x8A, b"k1"), (0x88, b"\x03\xe8")]


@_in_task
async def test_oversized_closes_1009_and_tcp_loss_is_1006():
    fake = FakeStream(incoming=bytes(frame.encode(BINARY, bytes(300))))
    ws = WebSocket(fake, max_message=256)
    try:
        await ws.recv()
    except MessageTooBig as exc:
        assert exc.size == 300
    else:
        raise AssertionError("300 bytes into 256")
    assert ws.closed and fake.frames() == [(0x88, b"\x03\xf1")]
    fake = FakeStream(incoming=bytes(frame.encode(BINARY, bytes(100)))[:50])
    ws = WebSocket(fake, max_message=256)
    try:
        await ws.recv()
    except ConnectionClosed as exc:
        assert exc.code_received == 1006 and "middle of a frame" in exc.reason
    else:
        raise AssertionError("half a frame accepted")
