# G.711 under real MicroPython: reference vectors, whole-range digests and zero allocation.
# The digests and vectors come from CPython's audioop (an independent implementation).
import hashlib

import kernel_util

import mptest
from audio import g711

SAMPLES = (0, 1, -1, 2, -2, 7, -8, 31, -32, 100, -100, 1000, -1000, 4095, -4096, 8158, -8159,
           8159, -8160, 12345, -12345, 32124, -32124, 32635, -32636, 32767, -32768)
ALAW = bytes((213, 213, 85, 213, 85, 213, 85, 212, 84, 211, 83, 250, 122, 154, 26, 138, 10, 138,
              10, 189, 61, 170, 42, 170, 42, 170, 42))
ULAW = bytes((255, 255, 126, 255, 126, 254, 126, 251, 123, 242, 114, 206, 78, 175, 47, 159, 31,
              159, 31, 151, 23, 128, 0, 128, 0, 128, 0))
DIGEST = {
    "alaw_enc": "38488f6fd710f4686360edc4d38639f96c491595ef93f8eb8d62d5e07ca6ce7b",
    "alaw_dec": "e04788d110e58ff8c70c93b8480190d973e3b67876b6119abbaec766cc75c174",
    "ulaw_enc": "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a",
    "ulaw_dec": "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827",
}
KERNELS = ("viper", "portable")
use_kernel = kernel_util.select(g711)  # "portable": the same source as bytecode


def _pcm(samples):
    out = bytearray(2 * len(samples))
    for i, s in enumerate(samples):
        s &= 0xFFFF
        out[2 * i] = s & 0xFF
        out[2 * i + 1] = s >> 8
    return out


def _hex(data):
    return "".join("%02x" % b for b in data)


def _sha256(data):
    return _hex(hashlib.sha256(data).digest())


def _all_samples():
    pcm = bytearray(2 * 65536)
    for i in range(65536):
        pcm[2 * i] = i & 0xFF
        pcm[2 * i + 1] = i >> 8
    # Ordered as -32768..32767, matching the digest.
    return pcm[65536:] + pcm[:65536]


def test_vectors_both_kernels():
    pcm = _pcm(SAMPLES)
    for kernel in KERNELS:
        use_kernel(kernel)
        out = bytearray(len(SAMPLES))
        assert g711.encode_alaw(pcm, out) == len(SAMPLES)
        assert bytes(out) == ALAW, kernel
        g711.encode_ulaw(pcm, out)
        assert bytes(out) == ULAW, kernel
    use_kernel("viper")


def test_whole_range_digests():
    pcm = _all_samples()
    codes = bytearray(65536)
    all_codes = bytes(range(256))
    decoded = bytearray(512)
    for kernel in KERNELS:
        use_kernel(kernel)
        g711.encode_alaw(pcm, codes)
        assert _sha256(codes) == DIGEST["alaw_enc"], kernel
        g711.encode_ulaw(pcm, codes)
        assert _sha256(codes) == DIGEST["ulaw_enc"], kernel
        assert g711.decode_alaw(all_codes, decoded) == 512
        assert _sha256(decoded) == DIGEST["alaw_dec"], kernel
        g711.decode_ulaw(all_codes, decoded)
        assert _sha256(decoded) == DIGEST["ulaw_dec"], kernel
    use_kernel("viper")


def test_encode_20ms_frame_allocates_nothing():
    pcm = _pcm(SAMPLES * 12)[:640]  # 320 samples: 20 ms at 16 kHz
    codes = bytearray(320)
    back = bytearray(640)
    for kernel in KERNELS:
        use_kernel(kernel)
        g711.encode_alaw(pcm, codes)  # warm up
        assert mptest.alloc(g711.encode_alaw, pcm, codes) == 0, kernel
        assert mptest.alloc(g711.encode_ulaw, pcm, codes) == 0, kernel
        assert mptest.alloc(g711.decode_alaw, codes, back) == 0, kernel
        assert mptest.alloc(g711.decode_ulaw, codes, back) == 0, kernel
    use_kernel("viper")


def test_short_output_buffer_is_refused():
    try:
        g711.encode_alaw(bytearray(640), bytearray(100))
    except ValueError as exc:
        assert "output buffer" in str(exc)
    else:
        raise AssertionError("a short output buffer must raise")
