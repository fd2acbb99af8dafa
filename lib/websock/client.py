# A WebSocket connection (RFC 6455, client side) over a reader/writer pair.
#
# recv_part() is the device's receive path: a message comes out in parts of at most part_size
# bytes (ws.part[:ws.part_len], ws.fin on the last), in one buffer the client owns, so no message
# is ever held whole and the caller's pace is the socket's pace: until it asks for the next part,
# nothing more is read and TCP flow control holds the server back. Pings are answered as they
# arrive, also between the fragments of a message. recv() is the convenience for host tools and
# tests: the whole message, in a buffer of max_message bytes allocated on its first use; a
# larger message is refused with 1009. Parts are 2 KB: each costs a few coroutine objects of
# garbage (~400 B on a 32-bit port), so 1 KB parts churned twice the heap per delta.
#
# send_inplace() is the audio path: the caller keeps HEADER_ROOM bytes free in front of the
# payload, the client writes the header right-aligned into that room, masks the payload in place
# and writes one contiguous slice. Masking in place destroys the payload, so callers rebuild the
# frame for every send. In steady state (same buffer, same length) it allocates nothing: the
# slice memoryview is cached and, when the socket took the whole frame, the returned awaitable is
# a finished one instead of a drain() generator.
#
# Every frame goes out in one synchronous write(), so frames from the audio task, pongs from the
# receive task and text from a third never interleave on the wire. drain() runs under a lock:
# MicroPython's Stream loses bytes written while another task drains.
import asyncio
import sys

from websock import frame, kernels
from websock.errors import ConnectionClosed, MessageTooBig, ProtocolError, WebSocketError
from websock.frame import BINARY, CLOSE, HEADER_ROOM, PING, PONG, TEXT
from websock.stream import Link


class _Ready:
    def __await__(self):
        return iter(())


# An awaitable that is already finished. MicroPython awaits any iterator, and an exhausted tuple
# iterator costs no heap at all; CPython wants __await__.
_DONE = iter(()) if sys.implementation.name == "micropython" else _Ready()


class WebSocket:
    def __init__(self, reader, writer=None, max_message=32768, close_timeout_ms=2000, seed=None,
                 part_size=2048):
        self._link = reader if isinstance(reader, Link) else Link(reader, writer or reader)
        self._dec = frame.Decoder(part_size)
        self.part = self._dec.buf  # recv_part(): the part is part[:part_len]
        self.part_len = 0
        self.fin = False
        self.max_message = max_message
        self._message = None  # recv()'s buffer, allocated when first needed
        self._rng = kernels.new_rng(seed)
        self._lock = asyncio.Lock()
        self._closed_evt = asyncio.Event()
        self._close_timeout = close_timeout_ms
        self._reading = False
        self._close_sent = False
        self.closed = False
        self.code_sent = None
        self.code_received = None
        self.close_reason = ""
        self._slice_buf = None  # send_inplace's cached slice of the caller's buffer
        self._slice_start = self._slice_end = 0
        self._slice = None

    # ---- receiving ----

    async def recv_part(self):
        """The next part of a message: returns its opcode (TEXT or BINARY); the bytes are
        self.part[:self.part_len], valid until the next call, and self.fin is True on the
        message's last part. Raises ConnectionClosed, ProtocolError (after closing 1002/1007)."""
        if self.closed:
            raise self._closed_exc()
        if self._reading:
            raise WebSocketError("recv() is already running in another task")
        self._reading = True
        dec = self._dec
        link = self._link
        try:
            while True:
                # _next_event() inlined: one coroutine fewer per part (each costs heap).
                try:
                    n = await link.readinto(dec.target())
                except OSError:
                    n = 0
                if n <= 0:
                    await self._lost_reading()
                ev = dec.advance(n)
                if ev is None:
                    continue
                if ev == TEXT or ev == BINARY:
                    self.part_len = dec.n
                    self.fin = dec.fin
                    return ev
                if ev == PING and not self._close_sent:
                    await self._send_frame(frame.encode(PONG, dec.control(), self._key()))
                elif ev == CLOSE:
                    await self._on_close_frame()
                    raise self._closed_exc()
        except (ProtocolError, MessageTooBig) as exc:
            await self._fail(exc.code)
            raise
        finally:
            self._reading = False

    async def recv(self):
        """(TEXT or BINARY, memoryview) of the next whole message; the view is valid until the
        next recv(). A message over max_message is refused: MessageTooBig, after closing 1009."""
        if self._message is None:
            self._message = bytearray(self.max_message)
        msg = self._message
        size = 0
        while True:
            op = await self.recv_part()
            n = self.part_len
            announced = size + n + self._dec.frame_left()  # refused from the frame header
            if announced > len(msg):
                await self._fail(1009)
                raise MessageTooBig(announced, len(msg))
            msg[size : size + n] = memoryview(self.part)[:n]
            size += n
            if self.fin:
                return op, memoryview(msg)[:size]

    async def _next_event(self):
        dec = self._dec
        while True:
            try:
                n = await self._link.readinto(dec.target())
            except OSError:
                n = 0
            if n <= 0:
                await self._lost_reading()
            ev = dec.advance(n)
            if ev is not None:
                return ev

    async def _lost_reading(self):
        # EOF or a socket error while reading: always raises ConnectionClosed.
        if self.closed:
            raise self._closed_exc()
        mid = self._dec.mid_frame()
        await self._abort()
        self.code_received = 1006
        self.close_reason = "TCP connection lost" + (" in the middle of a frame" if mid else "")
        raise self._closed_exc()

    async def _on_close_frame(self):
        self.code_received = self._dec.close_code
        self.close_reason = self._dec.close_reason
        if not self._close_sent:
            # Echo the peer's code (RFC 6455 5.5.1); 1005 means it sent none, so send none.
            try:
                await self._send_close(self.code_received)
            except (OSError, WebSocketError):
                pass
        await self._finish()

    # ---- sending ----

    def send_inplace(self, buf, payload_len, opcode=TEXT):
        """Send buf[HEADER_ROOM:HEADER_ROOM+payload_len] as one frame; await the result. The
        payload is masked in place (destroyed). Allocation-free in steady state."""
        if self._close_sent or self.closed:
            raise self._closed_exc()
        end = HEADER_ROOM + payload_len
        if payload_len < 0 or end > len(buf):
            raise ValueError(
                "send_inplace: %d payload bytes do not fit after HEADER_ROOM in a "
                "%d-byte buffer" % (payload_len, len(buf))
            )
        start = frame.write_header(buf, HEADER_ROOM, 0x80 | opcode, payload_len)
        kernels.keystream(self._rng, buf, HEADER_ROOM - 4, 4)
        kernels.mask(buf, HEADER_ROOM, payload_len, buf, HEADER_ROOM - 4)
        if buf is not self._slice_buf or start != self._slice_start or end != self._slice_end:
            self._slice = memoryview(buf)[start:end]
            self._slice_buf = buf
            self._slice_start = start
            self._slice_end = end
        if self._lock.locked():
            return self._send_frame(self._slice)  # another task is draining: queue behind it
        try:
            self._link.write(self._slice)
        except OSError:
            return self._lost()
        if self._link.pending():
            return self._drain_locked()
        return _DONE

    async def send_text(self, data):
        if isinstance(data, str):
            data = data.encode()
        await self._send_data(TEXT, data)

    async def send_binary(self, data):
        await self._send_data(BINARY, data)

    async def ping(self, data=b""):
        if len(data) > 125:
            raise ValueError("ping payload is limited to 125 bytes")
        await self._send_data(PING, data)

    async def _send_data(self, opcode, data):
        if self._close_sent or self.closed:
            raise self._closed_exc()
        await self._send_frame(frame.encode(opcode, data, self._key()))

    def _key(self):
        key = bytearray(4)
        kernels.keystream(self._rng, key, 0, 4)
        return key

    async def _send_frame(self, data):
        try:
            async with self._lock:
                self._link.write(data)
                if self._link.pending():
                    await self._link.drain()
        except OSError:
            await self._lost()

    async def _drain_locked(self):
        try:
            async with self._lock:
                await self._link.drain()
        except OSError:
            await self._lost()

    async def _lost(self):
        await self._abort()
        self.code_received = 1006
        self.close_reason = "TCP connection lost while sending"
        raise self._closed_exc()

    # ---- closing ----

    async def close(self, code=1000, reason=""):
        """Run the close handshake (bounded by close_timeout_ms), then drop the connection."""
        if self.closed:
            return
        if not self._close_sent:
            try:
                await self._send_close(code, reason)
            except (OSError, WebSocketError):
                await self._abort()
                return
        try:
            if self._reading:  # the task in recv() sees the reply and sets the event
                await asyncio.wait_for_ms(self._closed_evt.wait(), self._close_timeout)
            else:
                await asyncio.wait_for_ms(self._until_close_frame(), self._close_timeout)
        except (asyncio.TimeoutError, OSError, WebSocketError):
            pass
        await self._abort()

    async def _until_close_frame(self):
        while await self._next_event() != CLOSE:
            pass  # data after our close frame is discarded (RFC 6455 5.5.1)
        self.code_received = self._dec.close_code
        self.close_reason = self._dec.close_reason

    async def _send_close(self, code=None, reason=""):
        payload = b""
        if code is not None and code != 1005:
            payload = bytes((code >> 8, code & 0xFF)) + reason.encode()[:123]
        self._close_sent = True
        self.code_sent = code if payload else None
        await self._send_frame(frame.encode(CLOSE, payload, self._key()))

    async def _fail(self, code):
        # Tell the server why (1002/1007/1009), then wait for it to hang up; the rest of the
        # stream is not parsed any more (after a protocol error it cannot be).
        if not self._close_sent and not self.closed:
            try:
                await self._send_close(code)
            except (OSError, WebSocketError):
                pass
        await self._finish()

    async def _finish(self):
        # The server closes TCP first (RFC 6455 7.1.1); wait a bounded time for its EOF so our
        # close does not reset a connection with unread bytes in it.
        mv = memoryview(self._dec.buf)
        try:
            await asyncio.wait_for_ms(self._until_eof(mv), self._close_timeout)
        except (asyncio.TimeoutError, OSError):
            pass
        await self._abort()

    async def _until_eof(self, mv):
        while await self._link.readinto(mv) > 0:
            pass

    async def _abort(self):
        if not self.closed:
            self.closed = True
            self._closed_evt.set()
            try:
                await asyncio.wait_for_ms(self._link.close(), 1000)
            except (asyncio.TimeoutError, OSError):
                pass

    def _closed_exc(self):
        return ConnectionClosed(self.code_sent, self.code_received, self.close_reason)
