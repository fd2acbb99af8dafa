# The client's byte stream on the device, and how connect() opens it.
#
# Link: one small interface over MicroPython's asyncio Stream:
#   readinto(mv) -> n (0 at EOF), write(buf), pending(), drain(), close()
# Stream.write() sends straight to the socket, keeping only what the socket refused in
# `out_buf`; drain() is a generator, so calling it allocates. pending() reads `out_buf` so the
# client drains only when something is buffered: on the audio path the socket normally takes the
# whole frame and nothing is allocated.
# resolve() / open_link(): DNS and TCP (+ TLS) for connect(). On MicroPython the TLS handshake
# runs on the first write, so the step after open_link() is "TLS handshake with" when there is
# TLS.
# The host (CPython) has its own streams and steps: tools/hostws.py stands in for this module.
import asyncio


class Link:
    def __init__(self, reader, writer):
        self._r = reader
        self._w = writer
        self._pre = None  # bytes the handshake read past the response head
        self._pre_at = 0

    def unread(self, data):
        """Serve `data` before the stream (what the handshake read past the response head)."""
        if len(data):
            self._pre = data
            self._pre_at = 0

    async def readinto(self, mv):
        pre = self._pre
        if pre is not None:
            k = min(len(mv), len(pre) - self._pre_at)
            mv[:k] = pre[self._pre_at : self._pre_at + k]
            self._pre_at += k
            if self._pre_at >= len(pre):
                self._pre = None
            return k
        while True:
            n = await self._r.readinto(mv)
            # A non-blocking TLS socket answers None when a record is still incomplete.
            if n is not None:
                return n

    def write(self, buf):
        self._w.write(buf)

    def pending(self):
        return len(self._w.out_buf) > 0

    async def drain(self):
        await self._w.drain()

    async def close(self, abort=False):
        try:
            self._w.close()
            await self._w.wait_closed()
        except Exception:  # noqa: BLE001 - OSError: the link is going anyway
            pass


async def resolve(host, port, timeout_ms, timed):
    # socket.getaddrinfo blocks on MicroPython (lwIP applies its own DNS retry limit), so
    # timeout_ms cannot cut it short here.
    import socket

    addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    return addr[0] if isinstance(addr, tuple) else host


async def open_link(ip, port, ctx, host, where, timeouts, timed):
    """(Link, name of the step that sends the upgrade request)."""
    opening = asyncio.open_connection(ip, port, ssl=ctx, server_hostname=host)
    reader, writer = await timed("TCP connect to " + where, opening, timeouts[0])
    sending = "TLS handshake with " if ctx is not None else "upgrade request to "
    return Link(reader, writer), sending
