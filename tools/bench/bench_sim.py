"""Device-side latency rows of `make bench`, from one simulated push-to-talk session.

The real app (firmware/app, unchanged) runs on virtual hardware against the fake cloud on
127.0.0.1 in real time (tools.sim): the device's default config (16 kHz PCM both ways, 50 ms
reply frames paced by limit_config), board esp32s3_inmp441. The button is pressed TURNS times;
every press after the first lands while the previous answer is playing, so the same session
gives TURNS push-to-talk turns and TURNS - 1 barge-ins. tools/sim/metrics.py turns the app's
trace and the samples at the virtual speaker pins into the four latency lists; each row is the
median. These are host timings of the app's tasks (CPython asyncio, a virtual DMA), not ESP32
CPU time: they show what the app's structure adds (frame size, prefill, DMA depth), which is
what the targets are about.
usage: .venv/bin/python tools/bench/bench_sim.py
"""

import asyncio
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("lib", "firmware", ""):
    if os.path.join(ROOT, _sub) not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, _sub))

from tools import hostcompat  # noqa: E402,F401 - MicroPython shims before device modules

TIER = "simulator"
TURNS = 8
FIRST_PRESS_S = 1.0
HOLD_S = 1.0  # over min_press_ms: a real question, not a tap
BARGE_AFTER_S = 1.85  # after a release: ~1.6 s into the answer, in a loud stretch of reply.wav
BARGEIN_TARGET_MS = 40
STRUCTURE_TARGET_MS = 25  # press -> first append, release -> complete
SOUND_SLACK_MS = 15  # first audio -> sound may take the prefill plus this


def presses(turns=TURNS):
    out = []
    t = FIRST_PRESS_S
    for _ in range(turns):
        out.append((round(t, 3), round(t + HOLD_S, 3)))
        t += HOLD_S + BARGE_AFTER_S
    return out


def prefill_ms():
    from app import audio_path

    return audio_path._PREFILL_MS


def simulate(turns=TURNS):
    from tools.sim.harness import SimOptions, Simulation

    options = SimOptions(mode="ptt", presses=presses(turns), echo=None)
    return asyncio.run(Simulation(options).run())


def reply_starts_only(result):
    """A copy of result whose trace keeps only the first_audio marks of real replies.

    The app traces first_audio again right after a barge-in clear (link._play finishing the
    delta it was writing when the press came, in LISTENING): that is no reply starting, and the
    next I2S write after it is the clear's silence tail, so it would skew the median.
    """
    import copy

    out = copy.copy(result)
    out.trace = []
    state = None
    for t, name, detail in result.trace:
        if name == "state":
            state = detail
        if name == "first_audio" and state not in ("THINKING", "SPEAKING"):
            continue
        out.trace.append((t, name, detail))
    return out


def rows_from(result, prefill):
    """The four latency rows from a SimResult (medians; value None when nothing was seen)."""
    from tools.sim.metrics import latencies

    lat = latencies(reply_starts_only(result))
    specs = (
        ("latency_press_to_first_append_ms", "press_to_first_append_ms",
         STRUCTURE_TARGET_MS, "button press -> first append frame handed to the socket"),
        ("latency_release_to_complete_ms", "release_to_complete_ms", STRUCTURE_TARGET_MS,
         "button release -> input_audio_buffer.complete handed to the socket"),
        ("latency_first_audio_to_sound_ms", "first_audio_to_sound_ms",
         prefill + SOUND_SLACK_MS, "first reply audio into the player -> its first I2S write "
         "(player prefill %d ms + %d)" % (prefill, SOUND_SLACK_MS)),
        ("latency_bargein_to_silence_ms", "bargein_to_silence_ms", BARGEIN_TARGET_MS,
         "press while the answer plays -> last non-zero sample at the speaker pins"),
    )
    rows = []
    for key, name, target, what in specs:
        values = lat[name]
        median = round(statistics.median(values), 1) if values else None
        rows.append({
            "key": key, "value": median, "unit": "ms", "target": "<= %d" % target,
            "tier": TIER,
            "what": "%s; median of %d (%s), one %d-press session, real app vs fake cloud, "
                    "default config" % (what, len(values), " ".join("%.1f" % v for v in values),
                                        len(result.events("button_press")))})
    return rows


def run():
    result = simulate()
    if result.crashed:
        raise RuntimeError("the simulated app crashed: " + result.crashed)
    return rows_from(result, prefill_ms())


if __name__ == "__main__":
    for row in run():
        print("%-34s %8s %-4s %-8s %s" % (row["key"], row["value"], row["unit"], row["target"],
                                          row["what"]))
