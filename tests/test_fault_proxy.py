# tools/faultproxy.py with plain sockets: a scripted upstream sends an HTTP head and frames, a
# plain client reads what the proxy lets through; every fault kind and trigger is checked on the
# exact bytes.
import asyncio
import socket
import time

import pytest

from tools.faultproxy import Fault, FaultProxy, build_frame, parse_frame, unmask

HEAD_UP = b"GET /v1/chat HTTP/1.1\r\nHost: x\r\n\r\n"
HEAD_DOWN = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
KEY = b"\x11\x22\x33\x44"


def frames(*texts):
    return [build_frame(1, t.encode() if isinstance(t, str) else t) for t in texts]


class Upstream:
    """Answers each connection's head with HEAD_DOWN + the scripted frames; records uplink."""

    def __init__(self, down, linger=0.2):
        self.down = down
        self.got = []
        self.linger = linger
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader, writer):
        data = bytearray()
        self.got.append(data)
        try:
            data += await reader.readuntil(b"\r\n\r\n")
            for chunk in [HEAD_DOWN] + self.down:
                writer.write(chunk)
                await writer.drain()
            end = asyncio.get_running_loop().time() + self.linger
            while True:
                left = end - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                try:
                    more = await asyncio.wait_for(reader.read(4096), left)
                except asyncio.TimeoutError:
                    break
                if not more:
                    break
                data += more
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def stop(self):
        self.server.close()


async def client_exchange(port, up=b"", timeout=3.0):
    """Send HEAD_UP + up, read until EOF/reset; returns (bytes, how) with how in eof|reset."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEAD_UP + up)
    await writer.drain()
    got = bytearray()
    how = "eof"
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        how = "reset"
    except asyncio.TimeoutError:
        how = "timeout"
    writer.close()
    return bytes(got), how


def split_frames(data):
    """HTTP head, then [(opcode, payload)] of every whole frame, then leftover bytes."""
    end = data.index(b"\r\n\r\n") + 4
    head, rest, out = data[:end], data[end:], []
    while True:
        info = parse_frame(rest)
        if info is None or len(rest) < info[0] + info[1]:
            return head, out, rest
        out.append((info[3], unmask(rest[info[0]:info[0] + info[1]], info[2])))
        rest = rest[info[0] + info[1]:]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


async def with_proxy(down, faults, body, linger=0.2):
    up = await Upstream(down, linger).start()
    proxy = await FaultProxy(("127.0.0.1", up.port), faults).start()
    try:
        return await body(proxy, up)
    finally:
        await proxy.stop()
        await up.stop()


def test_passthrough_is_byte_exact_both_ways():
    down = frames("hello", "x" * 300, "y" * 70000)
    up_frames = build_frame(1, b"from client", key=KEY)

    async def body(proxy, up):
        got, how = await client_exchange(proxy.port, up_frames)
        await asyncio.sleep(0.05)
        return got, how, bytes(up.got[0])

    got, how, uplink = run(with_proxy(down, [], body))
    assert got == HEAD_DOWN + b"".join(down) and how == "eof"
    assert uplink == HEAD_UP + up_frames


def test_cut_fin_at_nth_matching_frame():
    down = frames("a delta 1", "other", "a delta 2", "a delta 3")

    async def body(proxy, up):
        return await client_exchange(proxy.port)

    got, how = run(with_proxy(down, ["cut@down:delta#2"], body, linger=2))
    _, fr, rest = split_frames(got)
    assert [p for _, p in fr] == [b"a delta 1", b"other"] and rest == b"" and how == "eof"


def test_rst_at_byte_count_resets_the_client():
    down = frames("0123456789" * 10)
    at = len(HEAD_DOWN) + 30

    async def body(proxy, up):
        return await client_exchange(proxy.port)

    got, how = run(with_proxy(down, ["rst@down:byte:%d" % at], body, linger=2))
    # The reset may discard what the client had not read yet; nothing past the cut arrives.
    assert how == "reset" and len(got) <= at and got == (HEAD_DOWN + down[0])[:len(got)]


def test_truncate_rewrites_the_header():
    down = frames("keep-me", "0123456789abcdef", "after")

    async def body(proxy, up):
        return await client_exchange(proxy.port)

    got, _ = run(with_proxy(down, ["truncate:5@down:0123"], body))
    _, fr, rest = split_frames(got)
    assert [p for _, p in fr] == [b"keep-me", b"01234", b"after"] and rest == b""


def test_truncate_raw_desynchronises_the_stream():
    down = frames("0123456789abcdef", "after")

    async def body(proxy, up):
        return await client_exchange(proxy.port)

    got, _ = run(with_proxy(down, ["truncate_raw:4@down:0123"], body))
    body_bytes = got[len(HEAD_DOWN):]
    # The header still says 16 bytes; only 4 follow, then the next frame's bytes.
    assert body_bytes == down[0][:2 + 4] + down[1]


def test_flip_utf8_and_b64_change_exactly_one_byte():
    delta = '{"event_type":"conversation.audio.delta","data":{"content":"%s"}}' % ("QUJD" * 30)
    down = frames("plain text payload", delta)

    async def body(proxy, up):
        return await client_exchange(proxy.port)

    got, _ = run(with_proxy(down, ["flip:utf8@down:plain", "flip:b64@down:audio.delta"], body))
    _, fr, _ = split_frames(got)
    sent = [b"plain text payload", delta.encode()]
    for (_, payload), orig in zip(fr, sent):
        diff = [i for i in range(len(orig)) if payload[i] != orig[i]]
        assert len(payload) == len(orig) and len(diff) == 1
    i = [k for k in range(len(sent[0])) if fr[0][1][k] != sent[0][k]][0]
    assert fr[0][1][i] == sent[0][i] ^ 0x80
    j = [k for k in range(len(sent[1])) if fr[1][1][k] != sent[1][k]][0]
    assert fr[1][1][j] == ord("*") and j == delta.index('"content":"') + 11 + 60


def test_flip_on_a_masked_client_frame_flips_the_unmasked_byte():
    up_frame = build_frame(1, b"input_audio_buffer.append 0123456789", key=KEY)

    async def body(proxy, up):
        await client_exchange(proxy.port, up_frame)
        await asyncio.sleep(0.05)
        return bytes(up.got[0])

    uplink = run(with_proxy([], ["flip:1@up:append"], body))
    _, fr, _ = split_frames(uplink)
    orig = b"input_audio_buffer.append 0123456789"
    diff = [(i, fr[0][1][i] ^ orig[i]) for i in range(len(orig)) if fr[0][1][i] != orig[i]]
    assert diff == [(len(orig) // 2, 1)]


def test_inject_sends_a_frame_before_the_trigger():
    down = frames("one", "two")

    async def body(proxy, up):
        return await client_exchange(proxy.port)

    got, _ = run(with_proxy(down, ['inject:{"x":1}@down:two'], body))
    _, fr, _ = split_frames(got)
    assert [p for _, p in fr] == [b"one", b'{"x":1}', b"two"]


def test_stall_holds_the_stream_then_resumes_in_order():
    down = frames("first", "second", "third")

    async def body(proxy, up):
        t0 = time.monotonic()
        got, how = await client_exchange(proxy.port)
        return got, time.monotonic() - t0, proxy

    got, took, proxy = run(with_proxy(down, ["stall:0.4@down:second"], body))
    _, fr, _ = split_frames(got)
    assert [p for _, p in fr] == [b"first", b"second", b"third"]
    assert took >= 0.4


def test_delay_with_jitter_keeps_order():
    down = frames(*["m%d" % i for i in range(10)])

    async def body(proxy, up):
        t0 = time.monotonic()
        got, _ = await client_exchange(proxy.port)
        return got, time.monotonic() - t0

    got, took = run(with_proxy(down, ["delay:30,20@start"], body))
    _, fr, _ = split_frames(got)
    assert [p for _, p in fr] == [b"m%d" % i for i in range(10)]
    assert took >= 2 * 0.010  # the request and the answer each waited >= 30 - 20 ms


def test_refuse_stops_listening_then_accepts_again():
    down = frames("hi")

    async def body(proxy, up):
        got, _ = await client_exchange(proxy.port)  # this connection triggers the refusal
        await asyncio.sleep(0.05)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", proxy.port)
        await asyncio.sleep(0.6)
        again, _ = await client_exchange(proxy.port)
        return got, again, proxy.connections

    got, again, conns = run(with_proxy(down, ["refuse:0.4@down:hi"], body))
    assert got == HEAD_DOWN + down[0] and again == HEAD_DOWN + down[0] and conns == 2


def test_conn_trigger_hits_only_that_connection():
    down = frames("hi")

    async def body(proxy, up):
        first, _ = await client_exchange(proxy.port)
        second, how = await client_exchange(proxy.port)
        return first, second, how

    first, second, how = run(with_proxy(down, ["rst@conn:1"], body))
    assert first == HEAD_DOWN + down[0] and second == b"" and how in ("reset", "eof")


def test_parse_rejects_bad_specs():
    for spec in ("explode@start", "cut@sideways:x", "cut@down:"):
        with pytest.raises(ValueError):
            Fault.parse(spec)
    f = Fault.parse("stall:2@down:conversation.audio.delta#3")
    assert (f.kind, f.arg, f.dir, f.text, f.nth) == ("stall", "2", "down",
                                                     b"conversation.audio.delta", 3)


def test_upstream_down_resets_the_client():
    async def body():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        proxy = await FaultProxy(("127.0.0.1", port)).start()
        try:
            return await client_exchange(proxy.port)
        finally:
            await proxy.stop()

    got, how = run(body())
    assert got == b"" and how in ("reset", "eof")
