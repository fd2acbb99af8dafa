# The energy VAD: event timing on synthetic frames, and frame accuracy on espeak-ng speech mixed
# with noise (tests/data/speech; the same measure is a bench row in tools/bench/bench_audio.py).
import struct

import pytest

from audio.vad import Vad
from tools.bench import bench_audio


def frame(amplitude, n=320):
    return struct.pack("<%dh" % n, *[amplitude if i % 2 else -amplitude for i in range(n)])


def test_onset_needs_attack_and_offset_waits_for_the_hangover():
    vad = Vad(threshold_db=6, hangover_ms=100, attack=2)  # 5 frames of hangover
    for _ in range(20):
        assert not vad.process(frame(100))
    assert vad.floor == 100 and vad.silence_ms() == 400
    assert not vad.process(frame(2000))  # one loud frame: not yet
    assert vad.process(frame(2000)) and vad.started
    for _ in range(4):
        assert vad.process(frame(100)) and not vad.ended
    assert not vad.process(frame(100)) and vad.ended
    assert vad.silence_ms() == 20


def test_floor_learns_steady_noise_and_ignores_a_click():
    vad = Vad()
    for _ in range(100):
        vad.process(frame(800))
    assert not vad.speech and vad.floor == 800
    assert not vad.process(frame(20000))  # a single click is not speech (attack = 2)
    assert not vad.process(frame(800))
    quiet = Vad(min_level=60)
    assert not any(quiet.process(frame(50)) for _ in range(5))  # below min_level


@pytest.mark.parametrize("noise, snr, floor", [
    ("white", 20, 0.95), ("white", 10, 0.95), ("white", 5, 0.9),
    ("modulated", 20, 0.9), ("modulated", 10, 0.85),
])
def test_frame_accuracy_on_speech_in_noise(noise, snr, floor):
    acc, recall, false = bench_audio.evaluate(snr, noise=noise)
    print("%s %d dB: accuracy %.3f recall %.2f false alarms %.2f" % (noise, snr, acc, recall,
                                                                      false))
    assert acc >= floor
    assert recall >= 0.9
