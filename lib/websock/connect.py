# connect(): DNS, TCP, TLS and the HTTP upgrade, each under its own timeout, then a WebSocket.
#
# Device (MicroPython): TLS verification uses the CA the caller passes as `cadata` (PEM or DER;
# see tls.py); the hostname goes to mbedtls as SNI and for the certificate check. A certificate
# that fails the check raises TLSError, whichever step it surfaces in. DNS and TCP are
# stream.py's resolve() / open_link(); asyncio.open_connection defers the TLS handshake to the
# first write, so tls_timeout_ms bounds "handshake + sending the upgrade request".
# Host (CPython): tools/hostws.py's resolve() / open_link() await each step separately:
# getaddrinfo, TCP, start_tls; then the upgrade as here.
import asyncio

from micropython import const

from websock import handshake, kernels, stream
from websock.client import WebSocket
from websock.errors import HandshakeError, WebSocketError

_MAX_HEAD = const(4096)


async def _timed(what, awaitable, timeout_ms, tls_host=None):
    # tls_host: a TLS handshake may be in this step, so a failed certificate check becomes
    # the TLSError that says which check failed.
    try:
        return await asyncio.wait_for_ms(awaitable, timeout_ms)
    except asyncio.TimeoutError:
        raise WebSocketError("%s timed out after %d ms" % (what, timeout_ms)) from None
    except (OSError, ValueError) as exc:
        if tls_host is not None:
            from websock.tls import cert_error

            err = cert_error(tls_host, exc)
            if err is not None:
                raise err from None
        if not isinstance(exc, OSError):
            raise
        raise WebSocketError("%s failed: %s" % (what, exc)) from exc


async def _send(link, data):
    # write() is in the timed step too: on MicroPython it may be what finishes the handshake
    # (and raises its verify error).
    link.write(data)
    await link.drain()


async def _read_head(link):
    # Read up to the blank line into one bounded buffer; what follows it (a first frame the
    # server may send at once) goes back to the link.
    head = bytearray(_MAX_HEAD)
    mv = memoryview(head)
    n = 0
    while True:
        got = await link.readinto(mv[n:])
        if got <= 0:
            raise HandshakeError("websocket upgrade: the server closed the connection")
        n += got
        end = bytes(head[:n]).find(b"\r\n\r\n")
        if end >= 0:
            link.unread(bytes(head[end + 4 : n]))
            return bytes(head[:end])
        if n == _MAX_HEAD:
            raise HandshakeError("websocket upgrade: response head over %d bytes" % _MAX_HEAD)


async def connect(
    url,
    headers=None,
    *,
    ssl_context=None,
    cadata=None,
    insecure=False,
    max_message=32768,
    dns_timeout_ms=5000,
    connect_timeout_ms=5000,
    tls_timeout_ms=10000,
    handshake_timeout_ms=5000,
    close_timeout_ms=2000,
):
    """Open a WebSocket to ws:// or wss:// `url` with extra request `headers` (e.g.
    {"Authorization": "Bearer ..."}). Raises HandshakeError (refused upgrade) or WebSocketError."""
    secure, host, port, resource = handshake.parse_url(url)
    ctx = ssl_context if secure else None
    if secure and ctx is None:
        from websock import tls

        ctx = tls.context(host, cadata, insecure)
    key = handshake.make_key(kernels.random_bytes(16))
    req = handshake.request(host, port, secure, resource, key, headers)
    ip = await stream.resolve(host, port, dns_timeout_ms, _timed)
    where = "%s:%d" % (host, port)
    link, sending = await stream.open_link(ip, port, ctx, host, where,
                                           (connect_timeout_ms, tls_timeout_ms), _timed)
    tls_host = host if ctx is not None else None
    try:
        await _timed(sending + where, _send(link, req), tls_timeout_ms, tls_host)
        # MicroPython may finish the handshake only when the response is read.
        head = await _timed(
            "websocket upgrade at " + where, _read_head(link), handshake_timeout_ms, tls_host
        )
        handshake.check_response(head, key, headers)
    except BaseException:
        try:
            await asyncio.wait_for_ms(link.close(abort=True), 1000)
        except Exception:  # noqa: BLE001 - the original error is the one to report
            pass
        raise
    return WebSocket(link, max_message=max_message, close_timeout_ms=close_timeout_ms)
