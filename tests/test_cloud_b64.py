# Base64 into caller buffers (lib/b64): both kernels against binascii, and strict rejection.
import binascii

import b64
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

KERNELS = ("viper", "portable")


@pytest.fixture(params=KERNELS)
def kernel(request):
    b64.use_kernel(request.param)
    yield request.param
    b64.use_kernel("viper")


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2000), off=st.integers(0, 20))
def test_round_trip_matches_binascii(data, off):
    for name in KERNELS:
        b64.use_kernel(name)
        out = bytearray(off + b64.encoded_len(len(data)))
        n = b64.encode_into(data, len(data), out, off)
        assert bytes(out[off:off + n]) == binascii.b2a_base64(data, newline=False)
        back = bytearray(len(data) + off)
        assert b64.decode_into(out, off, off + n, back, off) == len(data)
        assert bytes(back[off:]) == data
    b64.use_kernel("viper")


@pytest.mark.parametrize("text, offset", [
    (b"AB*D", 2), (b"AB=C", 2), (b"A===", 1), (b"=AAA", 0), (b"AAAA AAA", 4),
    (b"AAAAAB=C", 6), (b"AAAA\xffAAA", 4), (b"AAAAAA\\/", 6),
])
def test_bad_bytes_are_rejected_with_offset(kernel, text, offset):
    with pytest.raises(b64.B64Error) as err:
        b64.decode_into(text, 0, len(text), bytearray(16))
    assert err.value.offset == offset
    assert "offset %d" % offset in str(err.value)


def test_length_not_multiple_of_four(kernel):
    with pytest.raises(b64.B64Error, match="multiple of 4"):
        b64.decode_into(b"AAAAA", 0, 5, bytearray(8))


def test_short_output_buffers_are_refused(kernel):
    with pytest.raises(ValueError, match="needs 4"):
        b64.encode_into(b"abc", 3, bytearray(3))
    with pytest.raises(ValueError, match="needs 3"):
        b64.decode_into(b"AAAA", 0, 4, bytearray(2))
    with pytest.raises(ValueError, match="source holds"):
        b64.encode_into(b"ab", 3, bytearray(8))
