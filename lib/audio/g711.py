# G.711 A-law and mu-law codecs for 16-bit little-endian PCM, into caller-provided buffers.
#
# The audio path calls these once per frame, so nothing here allocates: callers pass the output
# buffer and get back the number of bytes written. The loops are one source, the viper kernels
# in audio/g711_viper.py: native on the ESP32, the same code as plain Python in the host tiers
# (decorator a no-op on CPython, stripped by the WebAssembly runner). They are checked bit-exact
# against an independent reference for all 65,536 samples (tests/test_g711.py).
#
# Encoding follows the classic reference coder (as in CPython's audioop): A-law quantises the top
# 13 bits, mu-law the top 14 bits with a bias of 33 and clipping at 8159.
from audio import g711_viper as _k

__all__ = ("encode_alaw", "encode_ulaw", "decode_alaw", "decode_ulaw")

_t = None  # audio/g711_tables.py, imported by the first G.711 call (a PCM device never needs it)


def _tables():
    global _t
    if _t is None:
        from audio import g711_tables

        _t = g711_tables
    return _t


def _sample_count(pcm, samples):
    if samples < 0:
        return len(pcm) >> 1
    if samples * 2 > len(pcm):
        raise ValueError(
            "g711: %d samples need %d PCM bytes, got %d" % (samples, samples * 2, len(pcm))
        )
    return samples


def _check_room(out, needed):
    if len(out) < needed:
        raise ValueError("g711: output buffer holds %d bytes, needs %d" % (len(out), needed))


def encode_alaw(pcm, out, samples=-1):
    """Encode int16 LE PCM into A-law codes in `out`; returns the number of bytes written."""
    n = _sample_count(pcm, samples)
    _check_room(out, n)
    return _k.encode_alaw(pcm, out, n, _tables().SEGMENT)


def encode_ulaw(pcm, out, samples=-1):
    """Encode int16 LE PCM into mu-law codes in `out`; returns the number of bytes written."""
    n = _sample_count(pcm, samples)
    _check_room(out, n)
    return _k.encode_ulaw(pcm, out, n, _tables().SEGMENT)


def _code_count(codes, count):
    if count < 0:
        return len(codes)
    if count > len(codes):
        raise ValueError("g711: %d codes requested, %d given" % (count, len(codes)))
    return count


def decode_alaw(codes, out, count=-1):
    """Decode A-law codes into int16 LE PCM in `out`; returns the number of bytes written."""
    n = _code_count(codes, count)
    _check_room(out, 2 * n)
    return _k.decode(codes, out, n, _tables().ALAW_TO_PCM)


def decode_ulaw(codes, out, count=-1):
    """Decode mu-law codes into int16 LE PCM in `out`; returns the number of bytes written."""
    n = _code_count(codes, count)
    _check_room(out, 2 * n)
    return _k.decode(codes, out, n, _tables().ULAW_TO_PCM)
