# The WebSocket client against a real third-party server (the pinned `websockets` 14.2) and a few
# raw asyncio servers for the misbehaviours websockets will not produce. All on 127.0.0.1; every
# test runs under an overall timeout so a hang fails instead of blocking the suite.
import asyncio
import datetime
import ipaddress
import ssl
import struct

import pytest
import websock
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websock import (
    BINARY,
    HEADER_ROOM,
    TEXT,
    ConnectionClosed,
    HandshakeError,
    MessageTooBig,
    WebSocketError,
)
from websock import handshake as hs
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed as WsClosed

TOKEN = "pat_SECRETtoken0123456789"
AUTH = {"Authorization": "Bearer " + TOKEN}


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


class Server:
    """websockets server on an ephemeral port; `url` to reach it."""

    def __init__(self, handler, **kw):
        self.handler = handler
        self.kw = kw
        self.seen_headers = None

    async def __aenter__(self):
        async def wrapped(ws):
            self.seen_headers = ws.request.headers
            await self.handler(ws)

        self.ctx = serve(wrapped, "127.0.0.1", 0, max_size=None, **self.kw)
        self.server = await self.ctx.__aenter__()
        self.port = self.server.sockets[0].getsockname()[1]
        scheme = "wss" if self.kw.get("ssl") else "ws"
        self.url = "%s://127.0.0.1:%d/v1/chat?bot_id=7" % (scheme, self.port)
        return self

    async def __aexit__(self, *exc):
        await self.ctx.__aexit__(*exc)


async def echo(ws):
    async for message in ws:
        await ws.send(message)


SIZES = [0, 1, 125, 126, 127, 65535, 65536]


def test_echo_text_and_binary_all_length_encodings():
    async def main():
        async with Server(echo) as srv:
            ws = await websock.connect(srv.url, AUTH, max_message=70000)
            assert srv.seen_headers["Authorization"] == "Bearer " + TOKEN
            for n in SIZES:
                text = ("é" * n)[: n // 2] + "a" * (n - 2 * (n // 2))  # n bytes of UTF-8
                await ws.send_text(text)
                op, mv = await ws.recv()
                assert (op, bytes(mv).decode()) == (TEXT, text), n
                blob = bytes(i * 7 & 0xFF for i in range(n))
                await ws.send_binary(blob)
                op, mv = await ws.recv()
                assert (op, bytes(mv)) == (BINARY, blob), n
            await ws.close()
            assert (ws.closed, ws.code_sent, ws.code_received) == (True, 1000, 1000)

    run(main())


def test_send_inplace_echo_rebuilt_each_time():
    async def main():
        async with Server(echo) as srv:
            ws = await websock.connect(srv.url, AUTH)
            for n in (0, 5, 640, 126, 70000 - HEADER_ROOM):
                buf = bytearray(HEADER_ROOM + n + 3)
                for round_ in range(3):
                    payload = bytes((i + round_) & 0xFF for i in range(n))
                    buf[HEADER_ROOM : HEADER_ROOM + n] = payload  # masking destroyed it
                    await ws.send_inplace(buf, n, BINARY)
                    if n > 32768:
                        with pytest.raises(MessageTooBig):
                            await ws.recv()
                        return
                    op, mv = await ws.recv()
                    assert (op, bytes(mv)) == (BINARY, payload)

    run(main())


def test_server_fragments_with_interleaved_pings():
    pongs = []

    async def handler(ws):
        async def fragments():
            for part in ("frag-one ", "frag-two ", "fräg-three"):
                yield part
                pongs.append(await ws.ping(part.encode()))

        await ws.send(fragments())
        await ws.send([b"\x00\x01", b"", b"\x02"])
        for waiter in pongs:
            await asyncio.wait_for(waiter, 5)  # our client answered every ping
        await ws.send("pongs ok")
        await ws.wait_closed()

    async def main():
        async with Server(handler) as srv:
            ws = await websock.connect(srv.url, AUTH)
            op, mv = await ws.recv()
            assert (op, bytes(mv).decode()) == (TEXT, "frag-one frag-two fräg-three")
            op, mv = await ws.recv()
            assert (op, bytes(mv)) == (BINARY, b"\x00\x01\x02")
            op, mv = await ws.recv()
            assert bytes(mv) == b"pongs ok"
            await ws.close()
        assert len(pongs) == 3

    run(main())


def test_server_ping_and_close_with_code_and_reason():
    seen = {}

    async def handler(ws):
        waiter = await ws.ping(b"are you there")
        await asyncio.wait_for(waiter, 5)
        await ws.send("got pong")
        await ws.close(4001, "bye for now")
        seen["code"] = ws.protocol.close_rcvd.code

    async def main():
        async with Server(handler) as srv:
            ws = await websock.connect(srv.url, AUTH)
            op, mv = await ws.recv()
            assert bytes(mv) == b"got pong"
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            exc = info.value
            assert (exc.code_received, exc.reason, exc.code_sent) == (4001, "bye for now", 4001)
            assert ws.closed
            with pytest.raises(ConnectionClosed):  # and it stays closed
                await ws.recv()
            with pytest.raises(ConnectionClosed):
                await ws.send_text("late")
        assert seen["code"] == 4001  # the server saw our echo

    run(main())


def test_oversized_message_closes_1009_without_reading_it():
    seen = {}

    async def handler(ws):
        await ws.send("x" * 40000)
        try:
            await ws.recv()
        except WsClosed as exc:
            seen["code"] = exc.rcvd.code if exc.rcvd else None

    async def main():
        async with Server(handler) as srv:
            ws = await websock.connect(srv.url, AUTH, max_message=32768)
            with pytest.raises(MessageTooBig) as info:
                await ws.recv()
            assert info.value.size == 40000 and "max_message" in str(info.value)
            assert ws.closed and ws.code_sent == 1009
            await asyncio.sleep(0.1)
        assert seen["code"] == 1009

    run(main())


def test_invalid_utf8_from_server_closes_1007():
    seen = {}

    async def handler(ws):
        # websockets refuses to send bad UTF-8 as text, so write the frame by hand.
        ws.transport.write(b"\x81\x02\xc3\x28")
        try:
            await ws.recv()
        except WsClosed as exc:
            seen["code"] = exc.rcvd.code if exc.rcvd else None

    async def main():
        async with Server(handler) as srv:
            ws = await websock.connect(srv.url, AUTH)
            with pytest.raises(websock.ProtocolError) as info:
                await ws.recv()
            assert info.value.code == 1007
        assert seen["code"] == 1007

    run(main())


# ---- raw servers: refusals, drops, silence ----


async def raw_server(respond):
    """A bare TCP server; respond(reader, writer) does everything by hand."""
    server = await asyncio.start_server(respond, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def read_request(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    key = [
        ln.split(b":", 1)[1].strip()
        for ln in head.split(b"\r\n")
        if ln.lower().startswith(b"sec-websocket-key:")
    ][0].decode()
    return head, key


def accept_head(key):
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: %s\r\n\r\n" % hs.accept_for(key)
    ).encode()


def test_http_401_to_the_upgrade():
    async def respond(reader, writer):
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 401 Unauthorized\r\nX-Tt-Logid: 20250101ABCDEF\r\nContent-Length: 0\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    async def main():
        server, port = await raw_server(respond)
        async with server:
            with pytest.raises(HandshakeError) as info:
                await websock.connect("ws://127.0.0.1:%d/v1/chat" % port, AUTH)
        exc = info.value
        assert (exc.status, exc.reason, exc.logid) == (401, "Unauthorized", "20250101ABCDEF")
        assert "401" in str(exc) and "20250101ABCDEF" in str(exc)
        assert TOKEN not in str(exc) and TOKEN not in repr(exc)

    run(main())


def test_refusal_that_echoes_the_token_is_scrubbed():
    async def respond(reader, writer):
        await read_request(reader)
        writer.write(
            (
                "HTTP/1.1 403 bad token Bearer %s\r\nX-Tt-Logid: id-%s\r\n\r\n" % (TOKEN, TOKEN)
            ).encode()
        )
        await writer.drain()
        writer.close()

    async def main():
        server, port = await raw_server(respond)
        async with server:
            with pytest.raises(HandshakeError) as info:
                await websock.connect("ws://127.0.0.1:%d/" % port, AUTH)
        exc = info.value
        assert exc.status == 403
        for text in (str(exc), repr(exc), exc.reason, exc.logid, repr(exc.args)):
            assert TOKEN not in text

    run(main())


def test_tcp_dropped_mid_frame_is_a_clear_error():
    async def respond(reader, writer):
        _, key = await read_request(reader)
        # The 101, a first whole message in the same segment, then half of a 256-byte frame.
        writer.write(accept_head(key) + b"\x81\x02hi" + b"\x82\x7e\x01\x00" + b"z" * 100)
        await writer.drain()
        writer.close()

    async def main():
        server, port = await raw_server(respond)
        async with server:
            ws = await websock.connect("ws://127.0.0.1:%d/" % port)
            op, mv = await ws.recv()
            assert (op, bytes(mv)) == (TEXT, b"hi")
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.code_received == 1006
            assert "middle of a frame" in str(info.value)
            assert ws.closed

    run(main(), timeout=10)


def test_silent_server_hits_the_handshake_timeout():
    async def respond(reader, writer):
        await read_request(reader)
        await asyncio.sleep(5)

    async def main():
        server, port = await raw_server(respond)
        async with server:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(WebSocketError, match="timed out after 200 ms"):
                await websock.connect("ws://127.0.0.1:%d/" % port, handshake_timeout_ms=200)
            assert loop.time() - t0 < 2

    run(main())


def test_bad_accept_is_refused():
    async def respond(reader, writer):
        await read_request(reader)
        writer.write(accept_head("not-the-key"))
        await writer.drain()

    async def main():
        server, port = await raw_server(respond)
        async with server:
            with pytest.raises(HandshakeError, match="Accept"):
                await websock.connect("ws://127.0.0.1:%d/" % port)

    run(main())


def test_connection_refused_is_a_websocket_error():
    async def main():
        server, port = await raw_server(lambda r, w: None)
        server.close()
        await server.wait_closed()
        with pytest.raises(WebSocketError, match="TCP connect to 127.0.0.1"):
            await websock.connect("ws://127.0.0.1:%d/" % port)

    run(main())


# ---- wss with a CA made here ----


def make_ca_and_server_cert(tmp_path):
    def key():
        return ec.generate_private_key(ec.SECP256R1())

    now = datetime.datetime.now(datetime.UTC)
    ca_key, srv_key = key(), key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "websock test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp_path / "srv.pem").write_bytes(cert.public_bytes(pem))
    (tmp_path / "srv.key").write_bytes(
        srv_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "srv.pem", tmp_path / "srv.key")
    return ca.public_bytes(pem), ca.public_bytes(serialization.Encoding.DER), server_ctx


def test_wss_accepted_with_the_ca_refused_without(tmp_path, capsys):
    ca_pem, ca_der, server_ctx = make_ca_and_server_cert(tmp_path)
    other_pem, _, _ = make_ca_and_server_cert(tmp_path / "..")
    import websock.tls

    websock.tls._warned_insecure = False  # this test counts the warning

    async def main():
        async with Server(echo, ssl=server_ctx) as srv:
            for cadata in (ca_pem, ca_der):
                ws = await websock.connect(srv.url, AUTH, cadata=cadata)
                await ws.send_text("over tls")
                op, mv = await ws.recv()
                assert bytes(mv) == b"over tls"
                await ws.close()
            ctx = ssl.create_default_context(cadata=ca_pem.decode())
            ws = await websock.connect(srv.url, AUTH, ssl_context=ctx)
            await ws.close()
            for kw in ({"cadata": other_pem}, {}):
                with pytest.raises(websock.TLSError, match="not signed by a trusted CA") as info:
                    await websock.connect(srv.url, AUTH, **kw)
                assert TOKEN not in str(info.value)
            ws = await websock.connect(srv.url, AUTH, insecure=True)
            await ws.close()
            ws = await websock.connect(srv.url, AUTH, insecure=True)
            await ws.close()

    run(main())
    # Two insecure connections, one warning.
    assert capsys.readouterr().out.count("insecure=True") == 1


def test_frames_and_close_code_bytes_on_the_wire():
    # What a raw server sees: masked frames, a fresh key per frame, a well-formed close.
    got = {}

    async def respond(reader, writer):
        _, key = await read_request(reader)
        writer.write(accept_head(key))
        await writer.drain()
        frames = []
        for _ in range(3):
            b0, b1 = await reader.readexactly(2)
            mask = await reader.readexactly(4)
            payload = bytes(
                b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(b1 & 0x7F))
            )
            frames.append((b0, b1 & 0x80, mask, payload))
        got["frames"] = frames
        writer.write(b"\x88\x02" + struct.pack("!H", 1000))
        await writer.drain()
        writer.close()

    async def main():
        server, port = await raw_server(respond)
        async with server:
            ws = await websock.connect("ws://127.0.0.1:%d/" % port)
            await ws.send_text("abc")
            buf = bytearray(HEADER_ROOM + 4)
            buf[HEADER_ROOM:] = b"wxyz"
            await ws.send_inplace(buf, 4, BINARY)
            await ws.close(4321, "done")
        f = got["frames"]
        assert [(x[0], x[1], x[3]) for x in f] == [
            (0x81, 0x80, b"abc"),
            (0x82, 0x80, b"wxyz"),
            (0x88, 0x80, b"\x10\xe1done"),
        ]
        assert len({x[2] for x in f}) == 3  # a fresh mask key each time
        assert ws.code_received == 1000

    run(main())


# ---- concurrency and the remaining timeouts ----


def test_close_from_another_task_while_recv_waits():
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        async with Server(handler) as srv:
            ws = await websock.connect(srv.url, AUTH)
            reader = asyncio.ensure_future(ws.recv())
            await asyncio.sleep(0.05)
            await ws.close(1001, "going away")
            with pytest.raises(ConnectionClosed) as info:
                await reader
            assert (info.value.code_sent, info.value.code_received) == (1001, 1001)
            assert ws.closed

    run(main())


def test_concurrent_senders_never_interleave_frames():
    async def main():
        async with Server(echo) as srv:
            ws = await websock.connect(srv.url, AUTH, max_message=70000)

            async def audio():
                buf = bytearray(HEADER_ROOM + 640)
                for i in range(150):
                    buf[HEADER_ROOM:] = bytes([i]) * 640
                    await ws.send_inplace(buf, 640, BINARY)

            async def text():
                for i in range(15):
                    await ws.send_text(str(i % 10) * 60000)

            got = []

            async def receive():
                while len(got) < 165:
                    op, mv = await ws.recv()
                    got.append((op, bytes(mv)))

            await asyncio.gather(audio(), text(), receive())
            audio_msgs = [p for op, p in got if op == BINARY]
            text_msgs = [p for op, p in got if op == TEXT]
            assert audio_msgs == [bytes([i]) * 640 for i in range(150)]
            assert text_msgs == [(str(i % 10) * 60000).encode() for i in range(15)]
            await ws.close()

    run(main(), timeout=60)


def test_tls_handshake_timeout():
    async def respond(reader, writer):
        await asyncio.sleep(5)  # accepts TCP, never answers the ClientHello

    async def main():
        server, port = await raw_server(respond)
        async with server:
            with pytest.raises(
                WebSocketError, match="TLS handshake with 127.0.0.1:%d timed out" % port
            ):
                await websock.connect(
                    "wss://127.0.0.1:%d/" % port, insecure=True, tls_timeout_ms=200
                )

    run(main())


def test_dns_timeout(monkeypatch):
    async def main():
        loop = asyncio.get_running_loop()

        async def slow_getaddrinfo(*args, **kwargs):
            await asyncio.sleep(5)

        monkeypatch.setattr(loop, "getaddrinfo", slow_getaddrinfo)
        with pytest.raises(WebSocketError, match="DNS lookup of ws.example timed out after 100"):
            await websock.connect("ws://ws.example/", dns_timeout_ms=100)

    run(main())


def test_tcp_connect_timeout_when_the_backlog_is_full():
    import socket

    # A listener that never accepts, its backlog filled: Linux then drops further SYNs, so a new
    # connect neither succeeds nor fails (the loopback stand-in for an unreachable host).
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)

        async def main():
            with pytest.raises(
                WebSocketError, match="TCP connect to 127.0.0.1:%d timed out" % port
            ):
                await websock.connect("ws://127.0.0.1:%d/" % port, connect_timeout_ms=300)

        run(main())
    finally:
        for s in fillers:
            s.close()
        lsock.close()
