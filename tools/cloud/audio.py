"""Audio helpers for the host tools: WAV in/out, resampling, codecs, frame energy.

Numpy-vectorised, because the fake cloud encodes whole replies per turn. G.711 uses the device's
own coder (lib/audio/g711.py) to build 64 K-entry lookup tables once, so what the fake cloud sends
is bit-exact what the device's codec would produce, and decoding uses the same expansion tables.
usage: python -m tools.cloud.audio resample IN.wav OUT.wav RATE
"""

import os
import sys
import wave

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CODECS = ("pcm", "g711a", "g711u")
_tables = {}


def _g711():
    for path in (os.path.join(ROOT, "lib"), ROOT):
        if path not in sys.path:
            sys.path.insert(0, path)
    from tools import hostcompat  # noqa: F401,I001 - the `micropython` shim g711's kernel needs
    from audio import g711

    return g711


def _tables_for(codec):
    if codec not in _tables:
        g711 = _g711()
        # Every int16 sample once, in the order -32768..32767, through the device's encoder.
        every = np.arange(-32768, 32768, dtype="<i2").tobytes()
        enc = np.zeros(65536, dtype=np.uint8)
        encode = g711.encode_alaw if codec == "g711a" else g711.encode_ulaw
        encode(every, memoryview(enc))
        tables = g711._tables()
        raw = tables.ALAW_TO_PCM if codec == "g711a" else tables.ULAW_TO_PCM
        dec = np.frombuffer(raw, dtype="<i2").copy()
        _tables[codec] = (enc, dec)
    return _tables[codec]


def read_wav(path):
    """(int16 mono samples, rate) from a 16-bit PCM WAV; stereo is mixed down."""
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError("%s: need 16-bit PCM WAV, got %d-bit" % (path, 8 * w.getsampwidth()))
        channels, rate = w.getnchannels(), w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return data.astype(np.int16), rate


def write_wav(path, samples, rate):
    samples = np.asarray(samples, dtype="<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(samples.tobytes())


def resample(samples, src_rate, dst_rate):
    """Linear-interpolation resampling; good enough for speech a test listens to by energy."""
    samples = np.asarray(samples, dtype=np.int16)
    if src_rate == dst_rate or len(samples) == 0:
        return samples.copy()
    n_out = int(round(len(samples) * dst_rate / src_rate))
    pos = np.arange(n_out) * (src_rate / dst_rate)
    out = np.interp(pos, np.arange(len(samples)), samples.astype(np.float64))
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def encode(samples, codec):
    """int16 samples -> wire bytes in `codec` (pcm = int16 little-endian)."""
    samples = np.asarray(samples, dtype=np.int16)
    if codec == "pcm":
        return samples.astype("<i2").tobytes()
    if codec in ("g711a", "g711u"):
        enc, _ = _tables_for(codec)
        return enc[samples.astype(np.int32) + 32768].tobytes()
    raise ValueError("unsupported codec %r (supported: %s)" % (codec, ", ".join(CODECS)))


def decode(data, codec):
    """Wire bytes in `codec` -> int16 samples."""
    if codec == "pcm":
        if len(data) % 2:
            raise ValueError("pcm16 data has an odd byte count (%d)" % len(data))
        return np.frombuffer(data, dtype="<i2").astype(np.int16)
    if codec in ("g711a", "g711u"):
        _, dec = _tables_for(codec)
        return dec[np.frombuffer(data, dtype=np.uint8)]
    raise ValueError("unsupported codec %r (supported: %s)" % (codec, ", ".join(CODECS)))


def bytes_per_sample(codec):
    return 2 if codec == "pcm" else 1


def rms_dbfs(samples):
    """RMS level in dB relative to full scale; -120 for silence."""
    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples * samples)))
    return -120.0 if rms < 1e-3 else 20.0 * float(np.log10(rms / 32768.0))


def _main(argv):
    if len(argv) != 4 or argv[0] != "resample":
        print("usage: python -m tools.cloud.audio resample IN.wav OUT.wav RATE")
        return 2
    samples, rate = read_wav(argv[1])
    write_wav(argv[2], resample(samples, rate, int(argv[3])), int(argv[3]))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
