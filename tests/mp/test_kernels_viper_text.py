# Viper against portable, the text kernels: base64 (b64/b64_viper.py) and the JSON walker's
# string-run finder and copier (cloud/jscan_viper.py). Seeded random inputs at non-zero offsets
# inside larger buffers, every short length, corrupted base64 and truncated or escaped JSON:
# both kernels give the same counts, bytes, error offsets and spans, base64 matches binascii,
# and the walker's shrunk copy is the same JSON whatever pieces the message came in.
import binascii
import json
import random

import b64
import kernel_util
from b64 import b64_viper
from cloud import jscan, jscan_viper

SELECTED = (b64.KERNEL, jscan.KERNEL)
# What a downlink parser asks the scanner for (see cloud/coze_chat.py), plus a nested parent.
TOP_KEYS = (b"event_type", b"id")
INNER_KEYS = (b"delta", b"id", b"content")
WORDS = ("a", "delta", "id", 'q"uote', "back\\slash", "tab\t", "é€", "", "data", "x" * 40)


def test_text_modules_select_viper():
    assert SELECTED == ("viper", "viper"), SELECTED
    b64.use_kernel("viper")
    jscan.use_kernel("viper")
    assert b64._fast is b64_viper and jscan.run_end is jscan_viper.run_end
    assert jscan.copy is jscan_viper.copy


def test_text_kernels_are_native():
    kernel_util.assert_viper(b64_viper, ("encode", "decode"))
    kernel_util.assert_viper(jscan_viper, ("run_end", "copy"))


def _encode(src, n, off):
    backing, dst = kernel_util.placed(bytes(off + b64.encoded_len(n) + 1), 3)
    return b64.encode_into(kernel_util.placed(src, 1)[1], n, dst, off), bytes(backing)


def test_b64_encode_agrees_with_binascii():
    kernel_util.seed(20)
    for n in kernel_util.lengths(900):
        src = kernel_util.rand_bytes(n + random.getrandbits(2))
        off = random.getrandbits(3)
        wrote, out = kernel_util.agree(b64.use_kernel, "b64 encode n=%d" % n, _encode, src, n, off)
        want = binascii.b2a_base64(bytes(src[:n])).rstrip(b"\n")
        assert wrote == len(want) and out[3 + off : 3 + off + wrote] == want, n


def _decode(text, start, end, off):
    backing, dst = kernel_util.placed(bytes(off + 3 * (end - start) // 4 + 1), 2)
    try:
        return b64.decode_into(text, start, end, dst, off), bytes(backing)
    except b64.B64Error as exc:
        return "error", exc.offset, str(exc)


def test_b64_decode_agrees_on_good_and_corrupt_input():
    kernel_util.seed(21)
    bad = b"=!-_ \n\x00\x80\xff"
    for n in kernel_util.lengths(900) * 3:
        data = kernel_util.rand_bytes(n)
        start = random.getrandbits(3)
        text = bytearray(b"#" * start) + binascii.b2a_base64(bytes(data)).rstrip(b"\n") + b"##"
        end = len(text) - 2
        if n and random.getrandbits(1):
            where = start + random.getrandbits(16) % (end - start)
            text[where] = bad[random.getrandbits(4) % len(bad)]
        off = random.getrandbits(2)
        what = "b64 decode n=%d %r" % (n, bytes(text))
        got = kernel_util.agree(b64.use_kernel, what, _decode, text, start, end, off)
        if got[0] != "error" and got[0] == n:
            assert got[1][2 + off : 2 + off + n] == data, what


def test_run_end_and_copy_agree():
    # The twins are called directly, from any offset: inside escapes, at the end, just
    # before a trailing backslash.
    kernel_util.seed(22)
    alphabet = b'ab"\\\\x '
    for size in kernel_util.lengths(300) * 4:
        buf = bytearray(size)
        for k in range(size):
            buf[k] = alphabet[random.getrandbits(3) % len(alphabet)]
        view = kernel_util.placed(buf, 1 + random.getrandbits(1))[1]
        n = size - random.getrandbits(2) % (size + 1)
        i = random.getrandbits(8) % (n + 1)
        fast = jscan_viper.run_end(view, i, n)
        slow = jscan._portable_run_end(view, i, n)
        assert fast == slow, "run_end %r i=%d n=%d: %d != %d" % (bytes(buf), i, n, fast, slow)
        k = random.getrandbits(8) % (n - i + 1)
        a, b = bytearray(size + 3), bytearray(size + 3)
        jscan_viper.copy(a, 2, view, i, k)
        jscan._portable_copy(b, 2, view, i, k)
        assert a == b and bytes(a[2:2 + k]) == bytes(view[i:i + k])


def _random_value(depth):
    pick = random.getrandbits(3)
    if pick < 3 or depth > 2:
        return WORDS[random.getrandbits(4) % len(WORDS)]
    if pick == 3:
        return random.getrandbits(20) - 500000
    if pick == 4:
        return [_random_value(depth + 1) for _ in range(random.getrandbits(2))]
    return {WORDS[random.getrandbits(4) % len(WORDS)]: _random_value(depth + 1)
            for _ in range(random.getrandbits(2))}


def _message():
    msg = {"event_type": WORDS[random.getrandbits(4) % len(WORDS)], "id": _random_value(2)}
    msg["data"] = {"delta": _random_value(2), "id": _random_value(3), "content": _random_value(1)}
    for _ in range(random.getrandbits(2)):
        msg[WORDS[random.getrandbits(4) % len(WORDS)]] = _random_value(0)
    return json.dumps(msg).encode()


def _walk(text, n, cap, piece):
    # The message in pieces of `piece` bytes (0: whole); no sink (every string is copied).
    walker = jscan.Filter(TOP_KEYS, b"data", INNER_KEYS, (), 4096, cap)
    view = kernel_util.placed(text, 3)[1]
    try:
        at = 0
        step = piece or n
        while at < n:
            stop = min(n, at + step)
            assert walker.feed(view, at, stop) == stop
            at = stop
        size = walker.end()
    except jscan.ScanError as exc:
        return "error", str(exc)
    return list(walker.spans), bytes(walker.escaped), bytes(walker.out[:size])


def test_walker_agrees_on_random_messages_in_any_pieces():
    kernel_util.seed(23)
    for _ in range(120):
        text = _message()
        n = len(text) if random.getrandbits(1) else random.getrandbits(16) % (len(text) + 1)
        cap = 1024 if random.getrandbits(1) else 1 + random.getrandbits(4)
        what = "walk %r n=%d cap=%d" % (text, n, cap)
        got = kernel_util.agree(jscan.use_kernel, what, _walk, text, n, cap, 0)
        for piece in (1, 2, 7):
            assert _walk(text, n, cap, piece) == got, "%s in pieces of %d" % (what, piece)
        if n == len(text):
            assert got[0] != "error", what
            shrunk = json.loads(got[2])  # shortened or not, the copy is JSON
            if cap == 1024:
                assert shrunk == json.loads(text), what
