"""Device-side figures of a simulated session, from the app's trace and the virtual speaker.

- press -> first append: the button press to the first append frame the app handed its socket;
- release -> complete: the button release to input_audio_buffer.complete handed to the socket;
- first audio -> sound: the first reply audio reaching the player to the first I2S write of the
  turn (the player's prefill is most of it);
- barge-in -> silence: a press while the bot speaks (or speech_started) to the last non-zero
  sample at the speaker pins (what the DMA still held is counted: it is heard).
"""

import statistics

_BARGE_WINDOW_S = 0.5


def _after(times, t, limit=None):
    for x in times:
        if x >= t and (limit is None or x - t <= limit):
            return x
    return None


def _median(values):
    return round(statistics.median(values), 1) if values else None


def _silence_after(result, t):
    """Seconds from t until the speaker stays silent (within the barge-in window)."""
    samples, rate = result.speaker
    start = int(round((t - result.speaker_t0) * rate))
    end = min(len(samples), start + int(_BARGE_WINDOW_S * rate))
    if start < 0 or start >= len(samples):
        return None
    window = samples[start:end]
    loud = [i for i in range(len(window)) if window[i] != 0]
    last = loud[-1] + 1 if loud else 0
    return last / rate


def latencies(result):
    trace = result.trace
    presses = result.events("button_press")
    releases = result.events("button_release")
    appends = result.events("first_append")
    completes = result.events("complete")
    first_audio = result.events("first_audio")
    writes = [t for t, _ in result.speaker_writes]
    out = {"press_to_first_append_ms": [], "release_to_complete_ms": [],
           "first_audio_to_sound_ms": [], "bargein_to_silence_ms": []}
    for t in presses:
        x = _after(appends, t, 2.0)
        if x is not None:
            out["press_to_first_append_ms"].append(1000 * (x - t))
    for t in releases:
        x = _after(completes, t, 2.0)
        if x is not None:
            out["release_to_complete_ms"].append(1000 * (x - t))
    for t in first_audio:
        x = _after(writes, t, 5.0)
        if x is not None:
            out["first_audio_to_sound_ms"].append(1000 * (x - t))
    speaking = False
    for t, name, detail in trace:
        if name == "state":
            speaking = detail == "SPEAKING"
        elif speaking and name in ("button_press", "speech_started"):
            quiet = _silence_after(result, t)
            if quiet is not None:
                out["bargein_to_silence_ms"].append(1000 * quiet)
    return out


def report(result, reason=None):
    lat = latencies(result)
    states = result.states()
    stats = result.player_stats
    rate = result.speaker[1] if result.speaker else 16000
    return {
        "ok": reason is None,
        "reason": reason,
        "latency_ms": {k: [round(v, 1) for v in vs] for k, vs in lat.items()},
        "latency_median_ms": {k: _median(vs) for k, vs in lat.items()},
        "turns": sum(1 for _, s in states if s == "SPEAKING"),
        "reconnects": max(0, sum(1 for _, s in states if s == "CONNECTING") - 1),
        "underruns": stats.get("underruns"),
        "peak_player_fill_ms": (stats.get("peak_fill_bytes", 0) * 500 // rate) if stats else None,
        "player": stats,
        "states": [[round(t, 3), s] for t, s in states],
        "crashed": result.crashed,
        "speaker_seconds": round(len(result.speaker[0]) / rate, 2) if result.speaker else 0,
        "gaps": result.gaps,
        "gap_ms": sum(g["ms"] for g in result.gaps),
        "runtime": result.device.get("runtime"),
        "sys_implementation": result.device.get("sys_implementation"),
        "device": result.device,
    }
