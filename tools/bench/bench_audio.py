"""Audio benchmarks on CPython: VAD frame accuracy on speech in noise.

The speech is espeak-ng output committed in tests/data/speech (see its README), laid out as
1 s of silence, then each clip followed by 0.7 s of silence, and mixed with seeded white noise
at a given SNR (speech power over the active frames vs noise power). Ground truth per 20 ms
frame: the clean signal's mean |x| is above 1/30 (-30 dB) of its loudest frame. Accuracy is
the share of frames where the VAD agrees, not counting silent frames within the hangover
(300 ms) after speech, where holding "speech" is the intended behaviour.
The allocation and ring rows come from tests/mp/bench_audio.py (MicroPython tier).
usage: .venv/bin/python tools/bench/bench_audio.py
"""

import math
import os
import random
import struct
import sys
import wave

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("lib", ""):
    if os.path.join(ROOT, _sub) not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, _sub))

from tools import hostcompat  # noqa: E402,F401 - MicroPython shims before device modules

TIER = "cpython"

from audio.vad import Vad  # noqa: E402

SPEECH_DIR = os.path.join(ROOT, "tests", "data", "speech")
RATE = 16000
FRAME = 320
CASES = (("white", 20, ">= 0.95"), ("white", 10, ">= 0.95"), ("white", 5, ">= 0.9"),
         ("white", 0, None), ("modulated", 20, ">= 0.9"), ("modulated", 10, ">= 0.85"),
         ("modulated", 5, None))


def load_speech():
    """The clean test signal as a list of ints, silence included."""
    out = [0] * RATE
    for name in sorted(os.listdir(SPEECH_DIR)):
        if not name.endswith(".wav"):
            continue
        with wave.open(os.path.join(SPEECH_DIR, name)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2), name
            data = w.readframes(w.getnframes())
        out.extend(struct.unpack("<%dh" % (len(data) // 2), data))
        out.extend([0] * (RATE * 7 // 10))
    return out[: len(out) // FRAME * FRAME]


def truth(clean):
    levels = [sum(abs(v) for v in clean[i : i + FRAME]) / FRAME
              for i in range(0, len(clean), FRAME)]
    peak = max(levels)
    return [lv > peak / 30 for lv in levels]


def mix(clean, labels, snr_db, seed=1, noise="white"):
    """clean + seeded noise at snr_db. "modulated" swings the noise level by +-6 dB at 1.3 Hz
    (non-stationary, like a fan or traffic); its average power still gives snr_db."""
    active = [v for i, v in enumerate(clean) if labels[i // FRAME]]
    p_speech = sum(v * v for v in active) / len(active)
    sigma = (p_speech / 10 ** (snr_db / 10)) ** 0.5
    rng = random.Random(seed)
    if noise == "white":
        env = [1.0] * len(clean)
    else:
        env = [2 ** math.sin(2 * math.pi * 1.3 * i / RATE) for i in range(len(clean))]
        norm = (sum(e * e for e in env) / len(env)) ** 0.5
        env = [e / norm for e in env]
    return [max(-32768, min(32767, int(v + env[i] * rng.gauss(0, sigma))))
            for i, v in enumerate(clean)]


def scored(labels, hangover_frames):
    """Frames that count: all but the non-speech ones within the hangover after speech (there
    the VAD holds speech on purpose, to bridge pauses between words)."""
    keep, since = [], hangover_frames + 1
    for t in labels:
        since = 0 if t else since + 1
        keep.append(t or since > hangover_frames)
    return keep


def evaluate(snr_db, seed=1, hangover_ms=300, noise="white", **vad_args):
    """(accuracy, speech recall, false-alarm rate) over the scored frames at snr_db."""
    clean = load_speech()
    labels = truth(clean)
    noisy = mix(clean, labels, snr_db, seed, noise)
    pcm = struct.pack("<%dh" % len(noisy), *noisy)
    vad = Vad(rate=RATE, frame_ms=20, hangover_ms=hangover_ms, **vad_args)
    got = [vad.process(pcm[2 * i : 2 * (i + FRAME)]) for i in range(0, len(noisy), FRAME)]
    rows = [(g, t) for g, t, k in zip(got, labels, scored(labels, hangover_ms // 20), strict=True)
            if k]
    speech = sum(t for _, t in rows)
    hits = sum(g and t for g, t in rows)
    false = sum(g and not t for g, t in rows)
    agree = sum(g == t for g, t in rows)
    return agree / len(rows), hits / speech, false / (len(rows) - speech)


def run():
    rows = []
    for noise, snr, target in CASES:
        acc, recall, false = evaluate(snr, noise=noise)
        rows.append({"key": "vad_accuracy_%s_snr%d" % (noise, snr), "value": round(acc, 3),
                     "unit": "ratio", "target": target, "tier": TIER,
                     "what": "VAD frame accuracy, espeak-ng speech + %s noise at %d dB SNR "
                             "(recall %.2f, false alarms %.2f)" % (noise, snr, recall, false)})
    return rows


if __name__ == "__main__":
    for row in run():
        print("%-24s %6s  %s" % (row["key"], row["value"], row["what"]))
