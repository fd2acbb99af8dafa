# Captive DNS for setup mode: every A question gets the device's own address, so a phone that
# joins the setup access point runs its connectivity check against the device and opens the
# setup page by itself (the captive portal sheet).
#
# reply() is sans-IO. Responder polls one non-blocking UDP socket (MicroPython's asyncio has no
# datagram streams) and answers one datagram per turn of the loop, so a flood of queries slows
# DNS but never starves the HTTP server. Bounds: datagrams over 512 bytes, responses, other
# opcodes, several questions and malformed names are dropped without an answer.
import asyncio

try:
    from micropython import const
except ImportError:  # CPython (the simulator, pytest)
    const = lambda x: x  # noqa: E731

_MAX_QUERY = const(512)  # the classic DNS-over-UDP limit; nothing bigger is a stub's question
_TTL_S = const(10)  # short: the answers stop being true once the phone is back on its own Wi-Fi
_POLL_MS = const(30)
_TYPE_A = const(1)
_CLASS_IN = const(1)


def reply(query, ip):
    """The answer datagram for `query` (bytes), with `ip` (4 bytes) for an A question; None when
    the datagram is not one question worth answering. Other types get an empty NOERROR answer,
    so a phone asking for AAAA falls back to the A record."""
    n = len(query)
    if n < 12 or n > _MAX_QUERY:
        return None
    if query[2] & 0xF8:  # QR set (a response) or an opcode other than a standard query
        return None
    if query[4] != 0 or query[5] != 1:
        return None
    i = 12
    while True:
        if i >= n:
            return None
        label = query[i]
        if label == 0:
            break
        if label & 0xC0:  # a pointer or a reserved label type: never in a stub's question
            return None
        i += 1 + label
    end = i + 5
    if end > n:
        return None
    qtype = query[i + 1] << 8 | query[i + 2]
    qclass = query[i + 3] << 8 | query[i + 4]
    answer = qtype == _TYPE_A and qclass == _CLASS_IN
    # Same id; a response, authoritative, recursion desired copied and available; NOERROR.
    out = bytearray(query[:end])
    out[2] = 0x84 | (query[2] & 0x01)
    out[3] = 0x80
    out[6] = 0
    out[7] = 1 if answer else 0
    out[8] = out[9] = out[10] = out[11] = 0  # no authority or additional records (EDNS dropped)
    if answer:
        out.extend(b"\xc0\x0c\x00\x01\x00\x01")  # the name at offset 12, type A, class IN
        out.extend(bytes((0, 0, 0, _TTL_S, 0, 4)))
        out.extend(ip)
    return bytes(out)


def ip_bytes(ip):
    return bytes([int(part) for part in ip.split(".")])


class Responder:
    """The DNS task: start() binds (ip, port) and begins answering; stop() ends it."""

    def __init__(self, ip, port=53, poll_ms=_POLL_MS):
        self.ip = ip
        self.port = port
        self.poll_ms = poll_ms
        self.answered = 0
        self._addr = ip_bytes(ip)
        self._sock = None
        self._task = None

    def start(self):
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(socket.getaddrinfo(self.ip, self.port)[0][-1])
        sock.setblocking(False)
        self._sock = sock
        self._task = asyncio.create_task(self._run())

    async def _run(self):
        sock = self._sock
        while True:
            try:
                query, peer = sock.recvfrom(_MAX_QUERY + 1)
            except OSError:  # nothing waiting (EAGAIN), or an ICMP error from an old peer
                await asyncio.sleep_ms(self.poll_ms)
                continue
            out = reply(query, self._addr)
            if out is not None:
                try:
                    sock.sendto(out, peer)
                    self.answered += 1
                except OSError:
                    pass
            await asyncio.sleep_ms(0)

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
