# Hostile servers at the WebSocket layer: each input has one defined outcome, checked through the
# real client (lib/websock) against a raw TCP server on 127.0.0.1, and a Hypothesis property that
# the decoder never raises anything but its documented errors.
import asyncio
import struct

import pytest
import websock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websock import handshake as hs
from websock.errors import ConnectionClosed, MessageTooBig, ProtocolError
from websock.frame import BINARY, CLOSE, PING, PONG, TEXT, Decoder

from tools.faultproxy import build_frame, parse_frame, unmask


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def accept_head(key):
    return ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: %s\r\n\r\n" % hs.accept_for(key)).encode()


async def hostile(send, after=None):
    """Serve one client: the upgrade, then send(writer) writes whatever it likes. Returns
    (client results, frames the client sent) once the client is done."""
    got = bytearray()

    async def respond(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        key = [ln.split(b":", 1)[1].strip() for ln in head.split(b"\r\n")
               if ln.lower().startswith(b"sec-websocket-key:")][0].decode()
        writer.write(accept_head(key))
        await send(writer)
        try:
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), 3)
                if not chunk:
                    break
                got.extend(chunk)
        except (asyncio.TimeoutError, OSError):
            pass
        writer.close()

    server = await asyncio.start_server(respond, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ws = await websock.connect("ws://127.0.0.1:%d/" % port, close_timeout_ms=500)
    out = []
    try:
        while len(out) < 10000:
            op, mv = await ws.recv()
            out.append((op, bytes(mv)))
    except (ProtocolError, MessageTooBig, ConnectionClosed) as exc:
        out.append(exc)
    server.close()
    await asyncio.sleep(0.05)
    return out, client_frames(bytes(got)), ws


def client_frames(data):
    frames = []
    while True:
        info = parse_frame(data)
        if info is None or len(data) < info[0] + info[1]:
            return frames
        frames.append((info[3], unmask(data[info[0]:info[0] + info[1]], info[2])))
        data = data[info[0] + info[1]:]


def close_frame(code=None, reason=b"", raw=None):
    payload = raw if raw is not None else (struct.pack(">H", code) + reason
                                           if code is not None else b"")
    return build_frame(CLOSE, payload)


async def write_all(writer, *frames):
    for f in frames:
        writer.write(f)
    await writer.drain()


def test_invalid_utf8_text_closes_1007():
    out, sent, _ = run(hostile(lambda w: write_all(w, build_frame(TEXT, b'{"a":"\xc3\x28"}'))))
    assert isinstance(out[-1], ProtocolError) and out[-1].code == 1007
    assert sent[-1][0] == CLOSE and struct.unpack(">H", sent[-1][1][:2])[0] == 1007


def test_10_mb_length_header_is_refused_1009_by_recv_from_the_header():
    # recv() (whole messages, for host tools) refuses what exceeds max_message; the device's
    # recv_part() streams any length (tests/test_cloud_stream.py).
    head = bytes([0x81, 127]) + struct.pack(">Q", 10 * 2**20)  # then nothing: never read
    out, sent, ws = run(hostile(lambda w: write_all(w, head + b"x" * 100)))
    assert isinstance(out[-1], MessageTooBig) and out[-1].size == 10 * 2**20
    assert struct.unpack(">H", sent[-1][1][:2])[0] == 1009
    assert len(ws.part) == 2048  # the part buffer never grew


def test_zero_length_frames_are_empty_messages_and_pings():
    frames = [build_frame(TEXT, b""), build_frame(PING, b""), build_frame(BINARY, b""),
              build_frame(TEXT, b"", fin=False), build_frame(0, b"", fin=False),
              build_frame(0, b"tail"), close_frame(1000)]
    out, sent, _ = run(hostile(lambda w: write_all(w, *frames)))
    assert out[:3] == [(TEXT, b""), (BINARY, b""), (TEXT, b"tail")]
    assert isinstance(out[3], ConnectionClosed) and out[3].code_received == 1000
    assert (PONG, b"") in sent


def test_a_ping_every_millisecond_is_answered_and_messages_still_arrive():
    async def flood(writer):
        for i in range(500):
            writer.write(build_frame(PING, b"%d" % i))
            if i % 50 == 0:
                writer.write(build_frame(TEXT, b'{"n":%d}' % i))
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(close_frame(1000))
        await writer.drain()

    out, sent, _ = run(hostile(flood))
    assert [m for m in out if isinstance(m, tuple)] == [
        (TEXT, b'{"n":%d}' % i) for i in range(0, 500, 50)]
    pongs = [p for op, p in sent if op == PONG]
    assert pongs == [b"%d" % i for i in range(500)]  # each answered, in order


@pytest.mark.parametrize("payload", [
    struct.pack(">H", 999), struct.pack(">H", 1004), struct.pack(">H", 1005),
    struct.pack(">H", 1006), struct.pack(">H", 1015), struct.pack(">H", 2000),
    struct.pack(">H", 5000), b"\x03",
])
def test_close_with_an_invalid_code_is_a_protocol_error_1002(payload):
    out, sent, _ = run(hostile(lambda w: write_all(w, close_frame(raw=payload))))
    assert isinstance(out[-1], ProtocolError) and out[-1].code == 1002
    assert struct.unpack(">H", sent[-1][1][:2])[0] == 1002


def test_close_with_a_valid_private_code_is_echoed():
    out, sent, _ = run(hostile(lambda w: write_all(w, close_frame(4321, b"bye"))))
    assert isinstance(out[-1], ConnectionClosed)
    assert (out[-1].code_received, out[-1].reason) == (4321, "bye")
    assert sent[-1][1] == struct.pack(">H", 4321)


def test_close_reason_with_invalid_utf8_closes_1007():
    out, _, _ = run(hostile(lambda w: write_all(w, close_frame(1000, b"\xff\xfe"))))
    assert isinstance(out[-1], ProtocolError) and out[-1].code == 1007


# ---- properties of the sans-IO decoder ---------------------------------------------------------

frame_parts = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda op, p, fin: build_frame(op, p, fin),
              st.sampled_from([0, 1, 2, 3, 8, 9, 10, 11, 15]), st.binary(max_size=300),
              st.booleans()),
    st.builds(lambda n: bytes([0x81, 127]) + struct.pack(">Q", n),
              st.integers(0, 2**64 - 1)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frame_parts, max_size=8), st.integers(1, 64))
def test_decoder_raises_only_documented_errors(parts, chunk):
    data = b"".join(parts)
    dec = Decoder(1024)
    events = []
    try:
        for i in range(0, len(data), chunk):
            dec.feed(data[i:i + chunk], events.append)
    except (ProtocolError, MessageTooBig):
        return
    for ev in events:
        assert ev in (TEXT, BINARY, CLOSE, PING, PONG)
    assert dec.n <= 1024


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.integers(1, 64))
def test_decoder_on_random_bytes(data, chunk):
    dec = Decoder(512)
    try:
        for i in range(0, len(data), chunk):
            dec.feed(data[i:i + chunk], lambda ev: None)
    except (ProtocolError, MessageTooBig):
        pass
