# One small interface over the two stream APIs the client runs on:
#   readinto(mv) -> n (0 at EOF), write(buf), pending(), drain(), close()
#
# MicroPython's asyncio Stream has readinto() and its write() sends straight to the socket,
# keeping only what the socket refused in `out_buf`; drain() is a generator, so calling it
# allocates. pending() reads `out_buf` so the client drains only when something is buffered: on
# the audio path the socket normally takes the whole frame and nothing is allocated.
# CPython's StreamReader has no readinto(): read(n) is bounded by the view's size and copied in.
# Its transport may keep a reference to what write() is given, so we hand it a copy: the caller's
# buffer is re-masked in place on the next frame.
import sys

_MP = sys.implementation.name == "micropython"


class Link:
    def __init__(self, reader, writer):
        self._r = reader
        self._w = writer
        self._pre = None  # bytes the handshake read past the response head
        self._pre_at = 0
        self._into = hasattr(reader, "readinto")
        self._has_out_buf = hasattr(writer, "out_buf")

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
        if self._into:
            while True:
                n = await self._r.readinto(mv)
                # A non-blocking TLS socket answers None when a record is still incomplete.
                if n is not None:
                    return n
        data = await self._r.read(len(mv))
        mv[: len(data)] = data
        return len(data)

    def write(self, buf):
        if _MP or self._has_out_buf:
            self._w.write(buf)
        else:
            self._w.write(bytes(buf))

    def pending(self):
        if self._has_out_buf:
            return len(self._w.out_buf) > 0
        return True

    async def drain(self):
        await self._w.drain()

    async def close(self, abort=False):
        w = self._w
        try:
            if abort and hasattr(w, "transport"):
                # CPython: drop at once. Not wait_closed(): after a cancelled start_tls the
                # stream's protocol never hears of the loss and would wait forever.
                w.transport.abort()
                return
            w.close()
            await w.wait_closed()
        except Exception:  # noqa: BLE001 - OSError / ssl.SSLError: the link is going anyway
            pass
