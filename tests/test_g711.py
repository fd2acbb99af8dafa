"""G.711 is bit-exact against an independent reference for every input, both laws, both ways:
the one kernel source (audio/g711_viper.py), run as plain Python here (the decorator is a no-op
on CPython; tests/mp runs it native)."""

import struct
import warnings

import pytest

from audio import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop  # the stdlib reference up to Python 3.12
    except ImportError:  # Python 3.13+: the audioop-lts backport pinned in requirements.txt
        import audioop

ALL_PCM = b"".join(struct.pack("<h", s) for s in range(-32768, 32768))
ALL_CODES = bytes(range(256))


@pytest.mark.parametrize("law", ["alaw", "ulaw"])
def test_encode_every_sample_matches_reference(law):
    out = bytearray(65536)
    assert getattr(g711, "encode_" + law)(ALL_PCM, out) == 65536
    expected = getattr(audioop, "lin2" + law)(ALL_PCM, 2)
    assert bytes(out) == expected


@pytest.mark.parametrize("law", ["alaw", "ulaw"])
def test_decode_every_code_matches_reference(law):
    out = bytearray(512)
    assert getattr(g711, "decode_" + law)(ALL_CODES, out) == 512
    assert bytes(out) == getattr(audioop, law + "2lin")(ALL_CODES, 2)


@pytest.mark.parametrize("law", ["alaw", "ulaw"])
def test_every_code_survives_a_round_trip(law):
    pcm = bytearray(512)
    codes = bytearray(256)
    getattr(g711, "decode_" + law)(ALL_CODES, pcm)
    getattr(g711, "encode_" + law)(pcm, codes)
    # mu-law has two zeros (0x7F and 0xFF); every other code maps back to itself.
    mismatches = [c for c in range(256) if codes[c] != c]
    assert mismatches == ([] if law == "alaw" else [0x7F])


def test_partial_frames_and_offsets():
    pcm = memoryview(ALL_PCM)[1000:1640]
    out = bytearray(400)
    assert g711.encode_alaw(pcm, out, 100) == 100
    assert bytes(out[:100]) == audioop.lin2alaw(bytes(pcm[:200]), 2)
    assert bytes(out[100:]) == bytes(300), "bytes past the count stay untouched"


def test_bad_sizes_raise_clear_errors():
    with pytest.raises(ValueError, match="output buffer holds 10 bytes, needs 320"):
        g711.encode_ulaw(bytes(640), bytearray(10))
    with pytest.raises(ValueError, match="320 samples need 640 PCM bytes"):
        g711.encode_ulaw(bytes(100), bytearray(320), 320)
    with pytest.raises(ValueError, match="output buffer"):
        g711.decode_alaw(bytes(10), bytearray(19))
