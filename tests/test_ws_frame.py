# The sans-IO half of the WebSocket client: frame encoding, the incremental decoder, the byte
# kernels (one source, plain Python here) and the upgrade helpers, including hypothesis fuzzing
# of the decoder.
import base64
import hashlib
import os
import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websock import frame, handshake, kernels
from websock.errors import HandshakeError, MessageTooBig, ProtocolError, WebSocketError
from websock.frame import BINARY, CLOSE, CONT, PING, PONG, TEXT


def ref_frame(opcode, payload, fin=True, key=None, rsv=0):
    """An independent encoder (struct-based) to check ours against."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    mbit = 0x80 if key is not None else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if key is None:
        return head + bytes(payload)
    return head + bytes(key) + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def decode_all(data, part_size=1024, chunk=None):
    """Every event of `data`, messages reassembled from their parts (and each part checked)."""
    dec = frame.Decoder(part_size)
    events = []
    parts = []

    def on_event(ev):
        if ev in (TEXT, BINARY):
            assert 0 <= dec.n <= part_size and (dec.n > 0 or dec.fin)
            parts.append(bytes(dec.buf[: dec.n]))
            if dec.fin:
                events.append((ev, b"".join(parts)))
                parts.clear()
        elif ev == CLOSE:
            events.append((ev, dec.close_code, dec.close_reason))
        else:
            events.append((ev, bytes(dec.control())))

    if chunk is None:
        dec.feed(data, on_event)
    else:
        for i in range(0, len(data), chunk):
            dec.feed(data[i : i + chunk], on_event)
    return events


# RFC 6455 section 5.7 examples.
RFC_HELLO = bytes.fromhex("810548656c6c6f")
RFC_HELLO_MASKED = bytes.fromhex("818537fa213d7f9f4d5158")
RFC_FRAGMENTS = bytes.fromhex("010348656c") + bytes.fromhex("80026c6f")
RFC_PING = bytes.fromhex("890548656c6c6f")
RFC_PONG_MASKED = bytes.fromhex("8a8537fa213d7f9f4d5158")


def test_rfc_5_7_encoding():
    assert bytes(frame.encode(TEXT, b"Hello")) == RFC_HELLO
    assert bytes(frame.encode(TEXT, b"Hello", bytes.fromhex("37fa213d"))) == RFC_HELLO_MASKED
    assert bytes(frame.encode(PONG, b"Hello", bytes.fromhex("37fa213d"))) == RFC_PONG_MASKED
    assert bytes(frame.encode(BINARY, b"\0" * 256))[:4] == bytes.fromhex("827e0100")
    assert bytes(frame.encode(BINARY, b"\0" * 65536))[:10] == bytes.fromhex("827f0000000000010000")


def test_rfc_5_7_decoding():
    assert decode_all(RFC_HELLO) == [(TEXT, b"Hello")]
    assert decode_all(RFC_FRAGMENTS) == [(TEXT, b"Hello")]
    assert decode_all(RFC_PING) == [(PING, b"Hello")]
    assert decode_all(bytes.fromhex("827e0100") + b"\1" * 256) == [(BINARY, b"\1" * 256)]


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536])
@pytest.mark.parametrize("masked", [False, True])
def test_encode_matches_reference(n, masked):
    payload = os.urandom(n)
    key = os.urandom(4) if masked else None
    assert bytes(frame.encode(BINARY, payload, key)) == ref_frame(BINARY, payload, key=key)


@pytest.mark.parametrize("chunk", [None, 1, 3, 1000])
def test_decoder_byte_by_byte_and_chunked(chunk):
    msg = "héllo wörld ✓".encode() * 20
    stream = (
        ref_frame(TEXT, msg[:5], fin=False)
        + ref_frame(PING, b"p1")
        + ref_frame(CONT, msg[5:100], fin=False)
        + ref_frame(PONG, b"")
        + ref_frame(CONT, msg[100:], fin=True)
        + ref_frame(BINARY, b"")
        + ref_frame(CLOSE, struct.pack("!H", 4001) + b"bye")
    )
    assert decode_all(stream, chunk=chunk) == [
        (PING, b"p1"),
        (PONG, b""),
        (TEXT, msg),
        (BINARY, b""),
        (CLOSE, 4001, "bye"),
    ]


def test_control_frame_mid_fragment_keeps_message_buffer():
    msg = b"A" * 300
    stream = ref_frame(BINARY, msg[:150], fin=False) + ref_frame(PING, b"Z" * 125)
    stream += ref_frame(CONT, msg[150:])
    assert decode_all(stream) == [(PING, b"Z" * 125), (BINARY, msg)]


@pytest.mark.parametrize(
    "data, code, words",
    [
        (ref_frame(TEXT, b"x", rsv=0x40), 1002, "reserved"),
        (ref_frame(TEXT, b"x", key=b"abcd"), 1002, "masked"),
        (bytes([0x83, 0]), 1002, "opcode"),
        (bytes([0x8B, 0]), 1002, "opcode"),
        (ref_frame(PING, b"x", fin=False), 1002, "control"),
        (bytes([0x89, 126, 0, 126]) + b"x" * 126, 1002, "control"),
        (ref_frame(CONT, b"x"), 1002, "continuation"),
        (ref_frame(TEXT, b"x", fin=False) + ref_frame(TEXT, b"y"), 1002, "inside"),
        (bytes([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]), 1002, "top bit"),
        (ref_frame(CLOSE, b"\x03"), 1002, "1-byte"),
        (ref_frame(CLOSE, struct.pack("!H", 1005)), 1002, "1005"),
        (ref_frame(CLOSE, struct.pack("!H", 999)), 1002, "999"),
        (ref_frame(TEXT, b"\xff"), 1007, "UTF-8"),
        (ref_frame(TEXT, b"\xc3", fin=False) + ref_frame(CONT, b"\xa9\xed\xa0\x80"), 1007, "UTF"),
        (ref_frame(CLOSE, struct.pack("!H", 1000) + b"\xc0\xaf"), 1007, "UTF-8"),
    ],
)
def test_protocol_errors(data, code, words):
    with pytest.raises(ProtocolError) as info:
        decode_all(data)
    assert info.value.code == code
    assert words in str(info.value)


def test_utf8_split_across_fragments_is_fine():
    text = "€".encode()
    stream = ref_frame(TEXT, text[:1], fin=False) + ref_frame(CONT, text[1:])
    assert decode_all(stream) == [(TEXT, text)]


def test_close_without_code_reports_1005():
    assert decode_all(ref_frame(CLOSE, b"")) == [(CLOSE, 1005, "")]


def test_a_message_of_any_size_streams_in_parts_of_the_buffer():
    # 1 MB through a 1 KB part buffer, single frame and fragmented, text with multi-byte
    # characters split at every part boundary: reassembled exactly, the buffer never grows.
    text = ("€ü" * 200000).encode()[:1 << 20]
    text = text[: len(text) - frame.utf8_tail(text, len(text))]
    assert decode_all(ref_frame(TEXT, text)) == [(TEXT, text)]
    pieces = b"".join(ref_frame(CONT if i else TEXT, text[i : i + 777], fin=i + 777 >= len(text))
                      for i in range(0, len(text), 777))
    assert decode_all(pieces, chunk=1500) == [(TEXT, text)]


def test_one_byte_fragments_with_pings_between():
    text = "añb€c😀".encode() * 3
    stream = b""
    for i in range(len(text)):
        stream += ref_frame(CONT if i else TEXT, text[i : i + 1], fin=i == len(text) - 1)
        stream += ref_frame(PING, b"p%d" % i)
    events = decode_all(stream, part_size=8, chunk=3)
    assert [e for e in events if e[0] == TEXT] == [(TEXT, text)]
    assert sum(1 for e in events if e[0] == PING) == len(text)


def test_bad_utf8_found_in_a_later_part():
    dec = frame.Decoder(16)
    with pytest.raises(ProtocolError) as info:
        dec.feed(ref_frame(TEXT, b"a" * 40 + b"\xff" + b"b" * 5), lambda ev: None)
    assert info.value.code == 1007
    # A code point cut off by the end of the message is an error too.
    dec = frame.Decoder(16)
    with pytest.raises(ProtocolError):
        dec.feed(ref_frame(TEXT, "€".encode()[:2]), lambda ev: None)


def test_frame_length_beyond_a_device_refused_from_header_alone():
    # A 2**62-byte claim is refused without building a long int or a buffer.
    dec = frame.Decoder(1000)
    with pytest.raises(MessageTooBig) as info:
        dec.feed(bytes([0x82, 127, 0x40, 0, 0, 0, 0, 0, 0, 0]), lambda ev: None)
    assert info.value.code == 1009


def test_empty_messages_and_empty_last_fragment():
    stream = ref_frame(TEXT, b"") + ref_frame(BINARY, b"ab", fin=False) + ref_frame(CONT, b"")
    assert decode_all(stream) == [(TEXT, b""), (BINARY, b"ab")]


def test_write_header_right_aligned():
    buf = bytearray(frame.HEADER_ROOM + 70000)
    for n, size in ((0, 6), (125, 6), (126, 8), (65535, 8), (65536, 14)):
        start = frame.write_header(buf, frame.HEADER_ROOM, 0x81, n)
        assert start == frame.HEADER_ROOM - size
        assert (
            bytes(buf[start : frame.HEADER_ROOM - 4])
            == ref_frame(TEXT, b"\0" * n, key=b"kkkk")[: size - 4]
        )


def test_mask_kernels_agree_with_reference():
    for n in range(0, 40):
        data = bytearray(os.urandom(n + 7))
        key = os.urandom(4)
        want = bytes(data[:3]) + bytes(b ^ key[i % 4] for i, b in enumerate(data[3 : 3 + n]))
        want += bytes(data[3 + n :])
        kernels.mask(data, 3, n, b"xx" + key, 2)
        assert bytes(data) == want


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_utf8_kernels_agree_with_cpython(data):
    try:
        data.decode("utf-8")
        want = True
    except UnicodeDecodeError:
        want = False
    assert (kernels.utf8_error(data, 0, len(data)) < 0) == want, data


@pytest.mark.parametrize(
    "cp", [0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF]
)
def test_utf8_boundaries(cp):
    data = chr(cp).encode()
    assert kernels.utf8_error(data, 0, len(data)) == -1
    assert kernels.utf8_error(data, 0, len(data) - 1) in (-1, 0)  # truncation is an error
    if len(data) > 1:
        assert kernels.utf8_error(data, 0, len(data) - 1) == 0
    for bad in (b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\x80", b"\xe0\x80\x80", b"\xf8"):
        assert kernels.utf8_error(b"ok" + bad, 0, 2 + len(bad)) == 2


def test_rc4_keystream_matches_known_vector():
    # RFC 6229 test vector: key 0x0102030405, keystream at offset 0.
    state = bytearray(258)
    for i in range(256):
        state[i] = i
    key = bytes((1, 2, 3, 4, 5))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % 5]) & 0xFF
        state[i], state[j] = state[j], state[i]
    out = bytearray(16)
    kernels.keystream(state, out, 0, 16)
    assert out.hex() == "b2396305f03dc027ccc3524a0a1118a8"


def test_rng_keys_differ_between_connections():
    a, b = kernels.new_rng(), kernels.new_rng()
    ka, kb = bytearray(16), bytearray(16)
    kernels.keystream(a, ka, 0, 16)
    kernels.keystream(b, kb, 0, 16)
    assert ka != kb


# ---- hypothesis: arbitrary bytes into the decoder ----


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=64))
def test_fuzz_decoder_ends_cleanly(data, chunk):
    dec = frame.Decoder(256)
    seen = []
    try:
        for i in range(0, len(data), chunk):
            dec.feed(data[i : i + chunk], seen.append)
    except (ProtocolError, MessageTooBig) as exc:
        assert exc.code in (1002, 1007, 1009)
    for ev in seen:
        assert ev in (TEXT, BINARY, PING, PONG, CLOSE)
    assert len(dec.buf) == 256  # the buffer never grows
    assert dec.n <= 256


frames = st.one_of(
    st.builds(
        lambda op, p, fin: ref_frame(op, p, fin=fin),
        st.sampled_from([TEXT, BINARY, CONT]),
        st.binary(max_size=300),
        st.booleans(),
    ),
    st.builds(
        lambda op, p: ref_frame(op, p), st.sampled_from([PING, PONG]), st.binary(max_size=125)
    ),
    st.builds(lambda n: bytes([0x82, 127]) + struct.pack("!Q", n), st.integers(0, 2**63 - 1)),
    st.binary(min_size=1, max_size=12),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, max_size=12))
def test_fuzz_plausible_frames_memory_bounded(parts):
    data = b"".join(parts)
    dec = frame.Decoder(512)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        try:
            dec.feed(data, lambda ev: None)
        except (ProtocolError, MessageTooBig) as exc:
            assert exc.code in (1002, 1007, 1009)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Whatever lengths the frames claim, decoding holds no more than small temporaries.
    assert peak - before < 8192


# ---- upgrade helpers ----


def test_parse_url():
    assert handshake.parse_url("wss://ws.coze.cn/v1/chat?bot_id=1") == (
        True,
        "ws.coze.cn",
        443,
        "/v1/chat?bot_id=1",
    )
    assert handshake.parse_url("ws://127.0.0.1:8765") == (False, "127.0.0.1", 8765, "/")
    assert handshake.parse_url("ws://h?x=1") == (False, "h", 80, "/?x=1")
    assert handshake.parse_url("ws://[::1]:9/p") == (False, "::1", 9, "/p")
    for bad in ("http://x/", "ws://", "ws://u:p@h/"):
        with pytest.raises(WebSocketError):
            handshake.parse_url(bad)


def test_accept_key_rfc_example():
    assert handshake.accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    key = handshake.make_key(os.urandom(16))
    want = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    ).decode()
    assert handshake.accept_for(key) == want


def test_request_refuses_header_injection():
    req = handshake.request("h", 8080, False, "/a?b", "k==", {"Authorization": "Bearer t"})
    assert req.startswith(b"GET /a?b HTTP/1.1\r\nHost: h:8080\r\n") and req.endswith(b"\r\n\r\n")
    assert b"\r\nAuthorization: Bearer t\r\n" in req
    with pytest.raises(WebSocketError) as info:
        handshake.request("h", 80, False, "/", "k", {"X": "pat_secret\r\nEvil: 1"})
    assert "pat_secret" not in str(info.value)


def test_check_response_refusal_scrubs_token():
    token = "pat_0123456789abcdef"
    head = ("HTTP/1.1 401 Unauthorized token %s\r\nX-Tt-Logid: 2025abc\r\n" % token).encode()
    with pytest.raises(HandshakeError) as info:
        handshake.check_response(head, "k", {"Authorization": "Bearer " + token})
    exc = info.value
    assert (exc.status, exc.logid) == (401, "2025abc")
    assert token not in str(exc) and token not in repr(exc) and token not in exc.reason


def test_check_response_validates_accept():
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    good = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    )
    assert handshake.check_response(good, key)["upgrade"] == "websocket"
    with pytest.raises(HandshakeError, match="Accept"):
        handshake.check_response(good.replace(b"s3pP", b"AAAA"), key)
    with pytest.raises(HandshakeError, match="HTTP"):
        handshake.check_response(b"SSH-2.0-OpenSSH", key)
