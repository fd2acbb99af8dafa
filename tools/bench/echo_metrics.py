"""The echo barge-in metrics of tools/bench/bench_echo.py, from externally visible evidence only.

Inputs are what any echo mode leaves behind, whatever the device does inside: the samples the
speaker pins played (on the simulation's timeline), the cancel messages of the session
recording (the device's conversation.chat.cancel, the cloud's conversation.chat.canceled) and
when the user spoke (the mic WAV the bench wrote). So one harness measures echo "off", "gate"
and "aware" alike.

- the speaker's sound is cut into segments: 10 ms windows with any sample above SILENT_LSB
  (the player writes exact zeros when it is cleared or runs dry), merged across pauses shorter
  than `min_gap_s` (longer than the pauses inside the bot's answer, so one answer is one
  segment) and across silences the report's gap list puts on the host (real-time runs only);
- an interruption is a segment that ended before the whole answer had played, or a cancel
  (a cut and the cancel that caused it are one); events within MERGE_S of each other are
  one. It is false (a self-interruption) when the user had been silent for HOLD_S before it,
  else a barge-in;
- a barge-in trial is detected when the speaker was sounding at the user's onset and fell
  silent before the answer's natural end and within DETECT_S of the onset; its latency is from
  the onset to that silence (the cloud VAD's delay, the link and the DMA included). A trial
  whose answer was already being stopped (a cancel before the onset, or silence sooner than
  MIN_REACTION_S after it) has nothing to measure and is skipped.
"""

import numpy as np

WINDOW_MS = 10
SILENT_LSB = 8
MERGE_S = 0.5
HOLD_S = 0.8  # the cloud VAD's 500 ms hang-over and the link: an event this soon is the user's
DETECT_S = 2.0
NATURAL_TOL_S = 0.15  # a segment this close to the answer's length played it whole
# Nothing the user says can stop the speaker sooner: one 16 ms mic DMA buffer, one 20 ms frame.
MIN_REACTION_S = 0.036
# The pins lag the app by the TX DMA's depth and a chunk (<= 36 ms at 16 kHz): a segment that
# ends this close to the run's end was cut by the scripted end, not by anything the device did.
RUN_END_TOL_S = 0.05


def active_windows(samples, rate, threshold=SILENT_LSB):
    """One bool per WINDOW_MS window: did any sample exceed threshold."""
    samples = np.abs(np.asarray(samples, dtype=np.int32))
    win = max(1, rate * WINDOW_MS // 1000)
    n = len(samples) // win
    if n == 0:
        return np.zeros(0, dtype=bool)
    return samples[:n * win].reshape(n, win).max(axis=1) > threshold


def segments(samples, rate, t0=0.0, min_gap_s=0.3, threshold=SILENT_LSB):
    """[(start_s, end_s)] of sound on the timeline (sample 0 at t0), pauses < min_gap_s merged."""
    active = active_windows(samples, rate, threshold)
    step = WINDOW_MS / 1000
    out = []
    for i in np.flatnonzero(active):
        start, end = t0 + i * step, t0 + (i + 1) * step
        if out and start - out[-1][1] < min_gap_s:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def join_across(segs, spans, tol_s=0.05):
    """Segments with the pause between them inside one of `spans` ((start_s, end_s): silences
    the host caused, from the report's gaps) joined: a starved process is no stop."""
    out = []
    for seg in segs:
        if out:
            pause = (out[-1][1], seg[0])
            if any(a - tol_s <= pause[0] and pause[1] <= b + tol_s for a, b in spans):
                out[-1] = (out[-1][0], seg[1])
                continue
        out.append(seg)
    return out


def longest_pause_s(samples, rate, threshold=SILENT_LSB):
    """The longest silence between the first and the last sound of a clip (its inner pauses)."""
    active = active_windows(samples, rate, threshold)
    idx = np.flatnonzero(active)
    if len(idx) < 2:
        return 0.0
    gaps = np.diff(idx) - 1
    return float(gaps.max()) * WINDOW_MS / 1000


def sound_span_s(samples, rate, threshold=SILENT_LSB):
    """(first, last) sound of a clip in seconds from its sample 0, or None when silent."""
    active = active_windows(samples, rate, threshold)
    idx = np.flatnonzero(active)
    if not len(idx):
        return None
    return idx[0] * WINDOW_MS / 1000, (idx[-1] + 1) * WINDOW_MS / 1000


def _user_near(t, user_spans, hold_s):
    return any(start - 0.05 <= t and t - hold_s <= end for start, end in user_spans)


def interruptions(segs, answer_s, cancels, user_spans, run_end_s, hold_s=HOLD_S):
    """[(t, false)] for every interruption: a segment cut short of answer_s (ending before the
    run did) or a cancel; false when the user had been silent for hold_s before it.

    A cut and the cancel that caused it are one interruption, at the cancel: the first cancel
    from the segment's start to MERGE_S after its end (the speaker may play on for a while
    after a cancel, the audio the device had already taken in)."""
    cancels = sorted(cancels)
    used = set()
    events = []
    for start, end in segs:
        if end - start >= answer_s - NATURAL_TOL_S or end >= run_end_s - RUN_END_TOL_S:
            continue
        mine = [i for i, c in enumerate(cancels) if start <= c <= end + MERGE_S]
        used.update(mine)
        events.append(cancels[mine[0]] if mine else end)
    events = sorted(events + [c for i, c in enumerate(cancels) if i not in used])
    merged = []
    for t in events:
        if merged and t - merged[-1] <= MERGE_S:
            continue
        merged.append(t)
    return [(t, not _user_near(t, user_spans, hold_s)) for t in merged]


def bot_seconds(segs, until_s=None):
    """Seconds the bot was heard (segment lengths), before until_s when given."""
    total = 0.0
    for start, end in segs:
        if until_s is not None:
            end = min(end, until_s)
        total += max(0.0, end - start)
    return total


def barge_in(segs, onset_s, answer_s, cancels=(), detect_s=DETECT_S):
    """None when there was no answer to barge into: the speaker silent at the onset, a cancel
    already out before it, or a stop sooner than MIN_REACTION_S after it (another cause's);
    else (detected, latency_ms or None)."""
    for start, end in segs:
        if start <= onset_s < end:
            if any(start <= c < onset_s for c in cancels) or end < onset_s + MIN_REACTION_S:
                return None
            natural = start + answer_s - NATURAL_TOL_S
            if end < natural and end - onset_s <= detect_s:
                return True, (end - onset_s) * 1000.0
            return False, None
    return None


def summary(trials):
    """Rows' numbers from per-trial evidence: each trial a dict with "false" (count),
    "bot_s" (seconds of bot speech), and for barge-in trials "barge" (None | (bool, ms))."""
    false = sum(t["false"] for t in trials)
    bot_s = sum(t["bot_s"] for t in trials)
    barges = [t["barge"] for t in trials if t.get("kind") == "barge"]
    valid = [b for b in barges if b is not None]
    hits = [b for b in valid if b[0]]
    latencies = sorted(b[1] for b in hits)
    return {
        "false_per_min": false / (bot_s / 60.0) if bot_s > 0 else None,
        "false": false,
        "bot_min": bot_s / 60.0,
        "recall": len(hits) / len(valid) if valid else None,
        "barge_trials": len(valid),
        "barge_skipped": len(barges) - len(valid),
        "latency_median_ms": float(np.median(latencies)) if latencies else None,
        "latency_max_ms": latencies[-1] if latencies else None,
    }
