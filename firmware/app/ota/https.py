# HTTPS GET for the update client: one kept-alive TLS connection, each body streamed into a sink.
#
# TLS is the app's own (websock.tls: the CA in ca_file, the host name, the dates; one line
# that says which check failed), over the same stream wrapper as the WebSocket (websock.stream).
# Every step waits at most `timeout_ms`: connect, TLS, the response head, each read of the body.
# A static host is all it needs: HTTP/1.1 GET, 200 with a Content-Length. It does not follow
# redirects or read chunked bodies (static files come with a length) and says so in one line.
# Failures of the network raise Dropped (a retry may help); anything else raises OtaError.
import asyncio
import sys

from micropython import const

from app.ota import Dropped, OtaError

_MP = sys.implementation.name == "micropython"
_BUF = const(2048)  # the response head, then each piece of the body
_CLOSE_MS = const(1000)


class Client:
    def __init__(self, url, cadata, timeout_ms=10000):
        if not url.startswith("https://"):
            raise OtaError("ota_url must start with https://, got %r" % url)
        host, _, path = url[8:].partition("/")
        self.port = 443
        if ":" in host:
            host, port = host.split(":", 1)
            self.port = int(port)
        self.host = host
        self.base = "/" + path + ("" if not path or path.endswith("/") else "/")
        self._cadata = cadata
        self._timeout = timeout_ms
        self._link = None
        self._buf = bytearray(_BUF)
        self._answered = False  # a byte of the current response has arrived
        self.requests = 0

    def where(self, name):
        # For messages: host and path, never a query string (it could carry a credential).
        port = "" if self.port == 443 else ":%d" % self.port
        return "https://%s%s%s%s" % (self.host, port, self.base, name)

    async def _timed(self, what, awaitable):
        try:
            return await asyncio.wait_for_ms(awaitable, self._timeout)
        except asyncio.TimeoutError:
            raise Dropped("%s timed out after %d s" % (what, self._timeout // 1000)) from None
        except (OSError, ValueError) as exc:
            from websock.tls import cert_error

            err = cert_error(self.host, exc)
            if err is not None:
                raise OtaError("%s; fix ca_file or the board's clock" % err) from None
            raise Dropped("%s failed: %r" % (what, exc)) from None

    async def _open(self):
        import socket

        from websock import tls
        from websock.errors import TLSError
        from websock.stream import Link

        try:
            ctx = tls.context(self.host, self._cadata, False)
        except TLSError as exc:
            raise OtaError("%s (ca_file in config.json)" % exc) from None
        where = "%s:%d" % (self.host, self.port)
        try:
            # Blocking, as in websock.connect (lwIP bounds its own DNS retries); at boot nothing
            # else is running.
            addr = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)[0][-1]
        except (OSError, IndexError) as exc:
            raise Dropped("looking up %s failed: %r" % (self.host, exc)) from None
        ip = addr[0] if isinstance(addr, tuple) else self.host
        if _MP:
            # The handshake happens on the first write and read: their timeouts bound it.
            opening = asyncio.open_connection(ip, self.port, ssl=ctx, server_hostname=self.host)
        else:
            opening = asyncio.open_connection(ip, self.port)
        reader, writer = await self._timed("connecting to " + where, opening)
        link = Link(reader, writer)
        if not _MP:
            try:
                await self._timed("TLS handshake with " + where,
                                  writer.start_tls(ctx, server_hostname=self.host))
            except BaseException:
                await link.close(abort=True)
                raise
        return link

    async def close(self):
        link, self._link = self._link, None
        if link is not None:
            try:
                await asyncio.wait_for_ms(link.close(abort=True), _CLOSE_MS)
            except Exception:  # noqa: BLE001 - closing a broken link must not hide why it broke
                pass

    async def get(self, name, sink, limit, exact=False):
        """GET `name` under ota_url into sink.write(mv) (which may raise to stop). The body must
        be at most `limit` bytes (`exact`: exactly). Returns its length."""
        reused = self._link is not None
        if self._link is None:
            self._link = await self._open()
        what = self.where(name)
        self._answered = False
        try:
            self.requests += 1
            port = "" if self.port == 443 else ":%d" % self.port
            req = ("GET %s%s HTTP/1.1\r\nHost: %s%s\r\nUser-Agent: voice-ota/1\r\n"
                   "Connection: keep-alive\r\n\r\n" % (self.base, name, self.host, port))
            await self._timed("sending the request for " + what, self._send(req.encode()))
            length, rest, close = await self._head(what)
            if length > limit or (exact and length != limit):
                raise OtaError("%s is %d bytes on the server, the manifest says %s%d: upload the "
                               "release folder again" % (what, length, "" if exact else "<= ",
                                                         limit))
            await self._body(what, sink, length, rest)
        except Dropped:
            await self.close()
            if reused and not self._answered:
                # The server had closed the kept-alive connection: once more on a new one.
                return await self.get(name, sink, limit, exact)
            raise
        except BaseException:
            await self.close()
            raise
        if close:
            await self.close()
        return length

    async def _send(self, data):
        # write() is in the timed step too: on MicroPython it may be what runs the TLS handshake
        # (and raises its certificate check).
        self._link.write(data)
        await self._link.drain()

    async def _head(self, what):
        buf = self._buf
        mv = memoryview(buf)
        n = 0
        while True:
            got = await self._timed("waiting for " + what, self._link.readinto(mv[n:]))
            if not got:
                raise Dropped("%s: the server closed the connection before answering" % what)
            self._answered = True
            n += got
            end = bytes(buf[:n]).find(b"\r\n\r\n")
            if end >= 0:
                break
            if n == len(buf):
                raise OtaError("%s: the response head is over %d bytes" % (what, len(buf)))
        try:
            lines = bytes(buf[:end]).decode().split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
        except (UnicodeError, ValueError, IndexError):
            raise OtaError("%s: not an HTTP response; check ota_url" % what) from None
        rest = n - end - 4
        buf[:rest] = buf[end + 4 : n]
        length = None
        close = False
        for line in lines[1:]:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            value = value.strip().lower()
            if key == "content-length":
                length = int(value) if value.isdigit() else None
            elif key == "connection":
                close = value == "close"
            elif key == "transfer-encoding" and value != "identity":
                length = None
                break
        if status != 200:
            if status == 404:
                hint = "is the release uploaded there? check ota_url"
            elif 300 <= status < 400:
                hint = "ota_url must be the release folder itself (redirects are not followed)"
            else:
                hint = "check the server"
            raise OtaError("%s: HTTP %d; %s" % (what, status, hint))
        if length is None:
            raise OtaError("%s: the server sent no Content-Length (chunked or compressed?): serve "
                           "the release as static files" % what)
        return length, rest, close

    async def _body(self, what, sink, length, rest):
        mv = memoryview(self._buf)
        got = min(rest, length)
        if got:
            sink.write(mv[:got])
        while got < length:
            n = await self._timed("reading " + what,
                                  self._link.readinto(mv[: min(len(mv), length - got)]))
            if not n:
                raise Dropped("%s: the server closed the connection after %d of %d bytes"
                              % (what, got, length))
            got += n
            sink.write(mv[:n])
