# Viper against portable, WebSocket and G.711 kernels: the modules call their one kernel source,
# on the unix port those functions really are native code, and on seeded random inputs (every
# short length, odd offsets, memoryview slices) the native and the bytecode build of that source
# write the same bytes, the references' bytes, bytes outside the span untouched. See
# kernel_util.py for what each tier proves.
import random

import g711_ref
import kernel_util
import ws_ref
from websock import kernels, ws_viper

from audio import g711, g711_viper

use_ws = kernel_util.select(kernels, ws_ref)  # see kernel_util.select
use_g711 = kernel_util.select(g711)

# Sequences around every boundary of the strict UTF-8 table (valid and not), glued at random.
UTF8_PIECES = (
    b"a", b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xe0\x9f\xbf", b"\xed\x9f\xbf",
    b"\xed\xa0\x80", b"\xef\xbf\xbf", b"\xf0\x90\x80\x80", b"\xf0\x8f\xbf\xbf",
    b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xc0\x80", b"\xc1\xbf", b"\xf5\x80\x80\x80",
    b"\xff", b"\x80", b"\xc2", b"\xe2\x82", b"\xf0\x9f\x98", "é€𝄞".encode(),
)


def test_modules_use_the_kernel_modules():
    assert kernels.mask is ws_viper.mask and kernels.utf8_error is ws_viper.utf8_error
    assert kernels.keystream is ws_viper.keystream
    assert g711._k is g711_viper


def test_viper_kernels_are_native():
    kernel_util.assert_viper(ws_viper, ("mask", "utf8_error", "keystream"))
    kernel_util.assert_viper(g711_viper, ("encode_alaw", "encode_ulaw", "decode"))


def _mask(data, lead, start, n, key, koff):
    backing, view = kernel_util.placed(data, lead)
    kernels.mask(view, start, n, key, koff)
    return bytes(backing)


def test_mask_agrees_and_matches_reference():
    kernel_util.seed(1)
    for n in kernel_util.lengths(700):
        data = kernel_util.rand_bytes(n + 8)
        key = kernel_util.rand_bytes(8)
        start = random.getrandbits(3)
        koff = random.getrandbits(2)
        lead = 1 + random.getrandbits(2)
        what = "mask n=%d start=%d koff=%d" % (n, start, koff)
        got = kernel_util.agree(use_ws, what, _mask, data, lead, start, n, key, koff)
        want, _ = kernel_util.placed(data, lead)
        for i in range(n):
            want[lead + start + i] ^= key[koff + (i & 3)]
        assert got == bytes(want), what


def _utf8_error(text, lead, start, n):
    return kernels.utf8_error(kernel_util.placed(text, lead)[1], start, n)


def test_utf8_error_agrees():
    kernel_util.seed(2)
    for _ in range(300):
        text = bytearray()
        for _ in range(random.getrandbits(4)):
            text.extend(UTF8_PIECES[random.getrandbits(8) % len(UTF8_PIECES)])
        lead = random.getrandbits(2)
        start = random.getrandbits(2) % (len(text) + 1)
        n = random.getrandbits(8) % (len(text) - start + 1)
        what = "utf8_error %r [%d:+%d]" % (bytes(text), start, n)
        kernel_util.agree(use_ws, what, _utf8_error, text, lead, start, n)


def _keystream(state, off, n):
    st = bytearray(state)
    backing, out = kernel_util.placed(bytes(n + off), 1)
    kernels.keystream(st, out, off, n)
    return bytes(st), bytes(backing)


def _new_rng(seed):
    # new_rng runs the selected keystream 12 times to drop RC4's first 3072 bytes.
    return bytes(kernels.new_rng(seed))


def test_keystream_agrees():
    kernel_util.seed(3)
    state = kernel_util.agree(use_ws, "new_rng", _new_rng, kernel_util.rand_bytes(32))
    for n in kernel_util.lengths(600):
        off = random.getrandbits(3)
        what = "keystream n=%d off=%d" % (n, off)
        state = kernel_util.agree(use_ws, what, _keystream, state, off, n)[0]


def _encode(pcm, lead, n):
    # Odd offsets too: the int16 samples need not be aligned.
    src = kernel_util.placed(pcm, lead)[1]
    backing_a, out_a = kernel_util.placed(bytes(n + 1), lead + 1)
    backing_u, out_u = kernel_util.placed(bytes(n + 1), lead)
    return (g711.encode_alaw(src, out_a, n), g711.encode_ulaw(src, out_u, n),
            bytes(backing_a), bytes(backing_u))


def test_g711_encode_agrees_and_matches_reference():
    kernel_util.seed(4)
    for n in kernel_util.lengths(500):
        pcm = kernel_util.rand_s16(n + 2)
        lead = 1 + random.getrandbits(2)
        got = kernel_util.agree(use_g711, "g711 encode n=%d" % n, _encode, pcm, lead, n)
        assert got[:2] == (n, n), got[:2]
        for i in range(n):
            sample = pcm[2 * i] | (pcm[2 * i + 1] << 8)
            sample -= 0x10000 if sample & 0x8000 else 0
            assert got[2][lead + 1 + i] == g711_ref.alaw_code(sample), (n, i, sample)
            assert got[3][lead + i] == g711_ref.ulaw_code(sample), (n, i, sample)


def _decode(codes, lead, n):
    src = kernel_util.placed(codes, lead)[1]
    backing_a, out_a = kernel_util.placed(bytes(2 * n + 1), lead)
    backing_u, out_u = kernel_util.placed(bytes(2 * n + 1), lead + 1)
    return (g711.decode_alaw(src, out_a, n), g711.decode_ulaw(src, out_u, n),
            bytes(backing_a), bytes(backing_u))


def test_g711_decode_agrees():
    kernel_util.seed(5)
    for n in kernel_util.lengths(500):
        codes = kernel_util.rand_bytes(n + 3)
        lead = 1 + random.getrandbits(2)
        got = kernel_util.agree(use_g711, "g711 decode n=%d" % n, _decode, codes, lead, n)
        assert got[:2] == (2 * n, 2 * n), got[:2]
