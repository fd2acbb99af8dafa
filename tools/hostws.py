# The host (CPython) side of the WebSocket client's I/O: CPython's asyncio streams and ssl where
# the device has MicroPython's Stream and mbedtls. tools/hostcompat.py registers this module as
# websock.stream and websock.tls on CPython, so websock/connect.py and client.py run unchanged
# with it; the device's own stream.py and tls.py carry no CPython code. Nothing here is deployed.
#
# stream.py's part: Link over CPython's StreamReader/StreamWriter (and the tests' fake streams):
# StreamReader has no readinto(), so read(n) is bounded by the view's size and copied in. Its
# transport may keep a reference to what write() is given, so it gets a copy: the caller's buffer
# is re-masked in place on the next frame. resolve() / open_link() await each step separately
# (getaddrinfo, TCP, start_tls), each under its own timeout.
#
# tls.py's part: CPython takes PEM as str, DER as bytes, and uses the system CA store when no
# cadata is given; a failed check is ssl.SSLCertVerificationError with an OpenSSL verify_code,
# turned into the same TLSError reasons the device gives (see lib/websock/tls.py).
import asyncio
import socket
import sys

_warned_insecure = False
# OpenSSL X509_V_ERR_*: 2/18/19/20/21 no trusted issuer, 7 signed by another key under a trusted
# CA's name, 9/10 dates, 62/64 host name / IP.
_OPENSSL = {2: "ca", 7: "ca", 18: "ca", 19: "ca", 20: "ca", 21: "ca", 9: "date", 10: "date",
            62: "name", 64: "name"}
_WHAT = {"ca": "is not signed by a trusted CA", "date": "has expired or is not yet valid",
         "name": "is for another host name"}


class Link:
    def __init__(self, reader, writer):
        self._r = reader
        self._w = writer
        self._pre = None  # bytes the handshake read past the response head
        self._pre_at = 0
        self._into = hasattr(reader, "readinto")
        self._has_out_buf = hasattr(writer, "out_buf")

    def unread(self, data):
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
                if n is not None:
                    return n
        data = await self._r.read(len(mv))
        mv[: len(data)] = data
        return len(data)

    def write(self, buf):
        if self._has_out_buf:
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
                # Drop at once. Not wait_closed(): after a cancelled start_tls the stream's
                # protocol never hears of the loss and would wait forever.
                w.transport.abort()
                return
            w.close()
            await w.wait_closed()
        except Exception:  # noqa: BLE001 - OSError / ssl.SSLError: the link is going anyway
            pass


async def resolve(host, port, timeout_ms, timed):
    loop = asyncio.get_running_loop()
    infos = await timed("DNS lookup of %s" % host,
                        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout_ms)
    return infos[0][4][0]


async def open_link(ip, port, ctx, host, where, timeouts, timed):
    """(Link, name of the step that sends the upgrade request): TCP, then TLS on its own."""
    reader, writer = await timed("TCP connect to " + where, asyncio.open_connection(ip, port),
                                 timeouts[0])
    link = Link(reader, writer)
    if ctx is not None:
        try:
            await timed("TLS handshake with " + where,
                        writer.start_tls(ctx, server_hostname=host), timeouts[1], host)
        except BaseException:
            try:
                await asyncio.wait_for(link.close(abort=True), 1)
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
            raise
    return link, "upgrade request to "


def _warn_insecure(host):
    global _warned_insecure
    if not _warned_insecure:
        _warned_insecure = True
        print("websock: WARNING: insecure=True, the certificate of %s is NOT checked" % host)


def context(host, cadata, insecure):
    import ssl

    from websock.errors import TLSError

    if insecure:
        _warn_insecure(host)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if cadata is None:
        return ssl.create_default_context()
    pem = bytes(cadata[:10]) == b"-----BEGIN"
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=bytes(cadata).decode() if pem else cadata)
        return ctx
    except (OSError, ValueError):  # ssl.SSLError
        pass
    raise TLSError("TLS: cadata holds no certificate this ssl can read (PEM or DER)", "cadata",
                   host)


def cert_error(host, exc):
    """The TLSError for `exc` if it is a failed certificate check, else None."""
    import ssl

    from websock.errors import TLSError

    if not isinstance(exc, ssl.SSLCertVerificationError):
        return None
    detail = exc.verify_message or str(exc)
    reason = _OPENSSL.get(exc.verify_code, "cert")
    if reason == "cert":
        what = "was rejected: " + detail.split("\n")[0]
    else:
        what = _WHAT[reason]
    return TLSError("TLS: %s's certificate %s" % (host, what), reason, host)


class _Finder:
    # websock.stream / websock.tls resolve to this module whenever (and from whichever lib/ on
    # sys.path) websock is imported: a finder, not an eager import, so a host run that switches
    # sys.path first (tools/ota/device.py's boot into an OTA slot) loads the rest of websock
    # from where the board would.
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name not in ("websock.stream", "websock.tls"):
            return None
        import importlib.util

        return importlib.util.spec_from_loader(name, cls)

    @staticmethod
    def create_module(spec):
        return sys.modules[__name__]

    @staticmethod
    def exec_module(module):
        pass


def install():
    """Stand in for websock.stream and websock.tls (CPython)."""
    if _Finder not in sys.meta_path:
        sys.meta_path.insert(0, _Finder)
