# WebSocket framing under real MicroPython: RFC 6455 5.7 vectors, the decoder's events and
# errors, and both kernel variants against each other.
import kernel_util
from websock import frame, kernels
from websock.errors import MessageTooBig, ProtocolError
from websock.frame import BINARY, CLOSE, CONT, PING, PONG, TEXT

KERNELS = ("viper", "portable")
use_kernel = kernel_util.select(kernels)  # "portable": the same source as bytecode
KEY = bytes((0x37, 0xFA, 0x21, 0x3D))


def _h(text):
    return bytes(int(text[i : i + 2], 16) for i in range(0, len(text), 2))


def _events(data, part_size=1000, chunk=0):
    # Events, with each message's parts joined back (a part is at most part_size bytes).
    dec = frame.Decoder(part_size)
    out = []
    parts = []

    def on_event(ev):
        if ev == TEXT or ev == BINARY:
            assert dec.n <= part_size
            parts.append(bytes(dec.buf[: dec.n]))
            if dec.fin:
                out.append((ev, b"".join(parts)))
                parts.clear()
        elif ev == CLOSE:
            out.append((ev, dec.close_code, dec.close_reason))
        else:
            out.append((ev, bytes(dec.control())))

    if chunk:
        for i in range(0, len(data), chunk):
            dec.feed(data[i : i + chunk], on_event)
    else:
        dec.feed(data, on_event)
    return out


def test_rfc_6455_5_7_vectors():
    for kernel in KERNELS:
        use_kernel(kernel)
        assert bytes(frame.encode(TEXT, b"Hello")) == _h("810548656c6c6f")
        assert bytes(frame.encode(TEXT, b"Hello", KEY)) == _h("818537fa213d7f9f4d5158")
        assert bytes(frame.encode(PONG, b"Hello", KEY)) == _h("8a8537fa213d7f9f4d5158")
        assert bytes(frame.encode(BINARY, bytes(256)))[:4] == _h("827e0100")
        assert bytes(frame.encode(BINARY, bytes(65536)))[:10] == _h("827f0000000000010000")
        assert _events(_h("810548656c6c6f")) == [(TEXT, b"Hello")]
        assert _events(_h("010348656c80026c6f"), chunk=1) == [(TEXT, b"Hello")]
        assert _events(_h("890548656c6c6f")) == [(PING, b"Hello")]
    use_kernel("viper")


def test_ping_between_fragments_and_close():
    data = (
        bytes(frame.encode(BINARY, b"abc", fin=False))
        + bytes(frame.encode(PING, b"p"))
        + bytes(frame.encode(CONT, b"def"))
        + bytes(frame.encode(CLOSE, b"\x0f\xa1bye"))
    )
    assert _events(data, chunk=2) == [(PING, b"p"), (BINARY, b"abcdef"), (CLOSE, 4001, "bye")]


def test_errors_carry_close_codes():
    cases = (
        (b"\xc1\x00", 1002),  # RSV1
        (b"\x81\x81abcd\x00", 1002),  # masked by the server
        (b"\x80\x00", 1002),  # continuation of nothing
        (b"\x09\x00", 1002),  # fragmented ping
        (b"\x81\x01\xff", 1007),  # not UTF-8
        (b"\x88\x02\x03\xed", 1002),  # close code 1005 on the wire
    )
    for data, code in cases:
        try:
            _events(data)
        except ProtocolError as exc:
            assert exc.code == code, (data, exc.code)
        else:
            raise AssertionError("no error for %r" % data)


def test_any_length_streams_through_a_small_part_buffer():
    text = ("\u20ac" * 3000).encode()  # 3-byte characters split at every part boundary
    stream = bytes(frame.encode(TEXT, text[:4001], None, False)) + bytes(
        frame.encode(CONT, text[4001:], None, True))
    assert _events(stream, part_size=100, chunk=37) == [(TEXT, text)]


def test_beyond_2_30_refused_from_the_header():
    dec = frame.Decoder(100)
    try:
        dec.feed(b"\x82\x7f\x40\x00\x00\x00\x00\x00\x00\x00", lambda ev: None)
    except MessageTooBig as exc:
        assert exc.code == 1009
    else:
        raise AssertionError("a 2**62-byte frame accepted")
    assert len(dec.buf) == 100


def test_kernels_agree():
    data = bytearray(bytes(range(256)) * 3)
    for n in (0, 1, 3, 4, 5, 63, 640):
        a = bytearray(data)
        b = bytearray(data)
        use_kernel("viper")
        kernels.mask(a, 5, n, KEY, 0)
        use_kernel("portable")
        kernels.mask(b, 5, n, KEY, 0)
        assert a == b
        kernels.mask(b, 5, n, KEY, 0)
        assert b == data  # masking twice restores
    samples = (b"plain", "é€𝄞".encode(), b"\xc0\xaf", b"\xed\xa0\x80", b"ok\xf4\x90\x80\x80")
    for s in samples:
        use_kernel("viper")
        v = kernels.utf8_error(s, 0, len(s))
        use_kernel("portable")
        assert kernels.utf8_error(s, 0, len(s)) == v
    use_kernel("viper")


def test_rc4_vector():
    # RFC 6229, key 0102030405.
    for kernel in KERNELS:
        use_kernel(kernel)
        state = bytearray(258)
        for i in range(256):
            state[i] = i
        j = 0
        for i in range(256):
            j = (j + state[i] + (i % 5) + 1) & 0xFF
            state[i], state[j] = state[j], state[i]
        out = bytearray(8)
        kernels.keystream(state, out, 0, 8)
        assert bytes(out) == _h("b2396305f03dc027"), kernel
    use_kernel("viper")
