"""What a fault scenario must show, computed from the simulator's result (tools/fault/driver.py).

- outcome: after the fault the app settles in READY (LISTENING in free talk), or ERROR for an
  auth fault, within recovery_bound(): the backoff schedule (1 s doubling to 30 s, +-25 %
  jitter) until an attempt lands after the outage, plus the session-ack wait (10 s) where the
  fault hits the handshake, plus the rest of the user's hold and of the reply;
- every "retrying in N ms" the app logged is on that schedule (attempt k: 0.75..1.25 x
  min(1000 * 2**k, 30000) ms; a connect or a press from ERROR starts again at k = 0);
- the last turn, after the fault is gone, plays a reply and ends in READY / LISTENING;
- nothing crashed, and the downlink never died of an unexpected exception;
- no garbage: every non-silent run of speaker samples is made of pieces (>= 16 samples, or the
  whole rest of the run) that occur verbatim in the reply audio; where a delta's base64 was
  corrupted, none of that delta's samples were played before the next turn (dropped whole);
- heap: the device code's traced allocations (tracemalloc, frames in lib/ and firmware/,
  sampled every second) stay under HEAP_LIMIT.
"""

import base64
import re

import numpy as np

HEAP_LIMIT = 512 * 1024  # bytes of CPython heap allocated by lib/ + firmware/ code at any sample
MIN_PIECE = 16
_RETRY = re.compile(r"retrying in (\d+) ms")


def backoff_worst(outage_s):
    """Worst-case seconds of backoff until an attempt is due after outage_s of downtime."""
    lo = hi = 0.0
    k = 0
    while True:
        base = min(2.0 ** k, 30.0)
        lo += 0.75 * base
        hi += 1.25 * base
        k += 1
        if lo >= outage_s:
            return hi


def recovery_bound(sc):
    from tools.fault.driver import HOLD_S, REPLY_S

    handshake = 10.0 if sc.phase == "connecting" else 0.0
    return round(backoff_worst(sc.outage_s) + sc.outage_s * (sc.fault == "stall") + handshake
                 + HOLD_S + REPLY_S + 3.0, 1)


def backoff_problems(log_lines):
    out = []
    k = 0
    for line in log_lines:
        m = _RETRY.search(line)
        if m:
            delay = int(m.group(1))
            base = min(1000 << k, 30000)
            if not 0.75 * base - 1 <= delay <= 1.25 * base + 1:
                out.append("retry %d waited %d ms, schedule says %d..%d" % (
                    k + 1, delay, 0.75 * base, 1.25 * base))
            k += 1
        elif " on CONNECTED" in line or "ERROR -> CONNECTING on PRESS" in line:
            k = 0
    return out


def _runs(samples):
    nz = np.concatenate(([0], (samples != 0).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(nz))
    return list(zip(edges[::2], edges[1::2]))


def _longest_match(x, ref):
    """Longest prefix of x found verbatim anywhere in ref."""
    k = min(MIN_PIECE, len(x))
    cand = np.flatnonzero(ref[:len(ref) - k + 1] == x[0]) if len(ref) >= k else []
    if len(cand) == 0:
        return 0
    if k > 1:
        window = ref[cand[:, None] + np.arange(k)]
        cand = cand[(window == x[:k]).all(axis=1)]
    best = 0
    for c in cand:
        n = min(len(x), len(ref) - c)
        eq = ref[c:c + n] == x[:n]
        length = n if eq.all() else int(np.argmin(eq))
        best = max(best, length)
        if best == len(x):
            break
    return best


def unexplained(speaker, reply):
    """(samples not explained by reply pieces, first such sample index or None)."""
    bad = 0
    first = None
    for s, e in _runs(speaker):
        run = speaker[s:e]
        i = 0
        while i < len(run):
            n = _longest_match(run[i:], reply)
            if n < min(MIN_PIECE, len(run) - i):
                bad += len(run) - i
                first = s + i if first is None else first
                break
            i += n
    return bad, first


def corrupted_delta(session, nth):
    """int16 samples of the nth (1-based) conversation.audio.delta the cloud sent."""
    deltas = [m for m in session.downs() if m.get("event_type") == "conversation.audio.delta"]
    if len(deltas) < nth:
        return None
    return np.frombuffer(base64.b64decode(deltas[nth - 1]["data"]["content"]), dtype="<i2")


def played_any(speaker, piece, stride=128, k=32):
    """True when some k-sample window of piece (one without zeros) occurs in speaker."""
    for at in range(0, max(1, len(piece) - k), stride):
        w = piece[at:at + k]
        if len(w) < k or (w == 0).any():
            continue
        if _longest_match(w, speaker) == k:
            return True
    return False


def _first_after(states, t, names):
    for ts, name in states:
        if ts >= t and name in names:
            return ts, name
    return None, None


def _conn_summary(conn):
    vad = getattr(conn, "vad", None)
    return {"appends": len(conn.received("input_audio_buffer.append")),
            "first_append_t": next((round(e["t"] + conn.t0, 3) for e in
                                    conn.received("input_audio_buffer.append")), None),
            "vad_windows": vad.windows if vad is not None else None,
            "turns": getattr(conn, "turns", None),
            "sent": [e["type"] for e in conn.sent() if "audio" not in e["type"]][-8:]}


def evaluate(sc, sim, result, cloud, proxy, wall, process_peak):
    rest = "READY" if sc.mode == "ptt" else "LISTENING"
    states = result.states()
    problems = list(sim.notes)
    if result.crashed:
        problems.append("crash: " + result.crashed)
    if any("downlink failed" in line for line in result.log):
        problems.append("downlink died of an unexpected exception")
    # When the fault struck.
    if sc.http401:
        t_fault = next((t for t, s in states if s == "CONNECTING"), None)
    else:
        fired = [f.fired_at for f in proxy.faults if f.fired_at is not None]
        unfired = [repr(f) for f in proxy.faults if f.fired_at is None]
        if unfired:
            problems.append("fault never fired: " + ", ".join(unfired))
        t_fault = sim.sim_time(min(fired)) if fired else None
    recovered = end_state = None
    if t_fault is not None:
        t_end, end_state = _first_after(states, t_fault, (rest, "ERROR"))
        if t_end is None:
            problems.append("never back in %s/ERROR after the fault" % rest)
        else:
            recovered = t_end - t_fault
            want = "ERROR" if sc.expect == "error" else rest
            if end_state != want:
                problems.append("ended in %s after the fault, expected %s" % (end_state, want))
            if recovered > recovery_bound(sc):
                problems.append("recovered in %.1f s, bound %.1f s" % (recovered,
                                                                       recovery_bound(sc)))
    problems += backoff_problems(result.log)
    # The last turn, with the fault gone, must be a whole one.
    samples, rate = result.speaker
    samples = np.asarray(samples, dtype=np.int16)
    last = sim.turn_starts[-1] if sim.turn_starts else None
    final_ok = False
    if last is not None:
        spoke = any(s == "SPEAKING" and t > last for t, s in states)
        at = max(0, int((last - result.speaker_t0) * rate))
        sound = bool((samples[at:] != 0).any())
        final_ok = spoke and bool(states) and states[-1][1] == rest and sound
        if not final_ok:
            problems.append("the turn after the fault failed (spoke %s, sound %s, end %s)" % (
                spoke, sound, states[-1][1] if states else None))
    reply = np.asarray(cloud.reply_audio(24000), dtype=np.int16)
    bad, first = unexplained(samples, reply)
    if bad:
        problems.append("speaker played %d samples that are not reply audio (first at %.3f s)"
                        % (bad, result.speaker_t0 + first / rate))
    if sc.fault == "flip-b64" and sc.phase == "speaking" and result.session is not None:
        nth = int(sc.specs[0].rpartition("#")[2])
        piece = corrupted_delta(result.session, nth)
        end = int((last - result.speaker_t0) * rate) if last is not None else len(samples)
        if piece is None:
            problems.append("no delta #%d in the session" % nth)
        elif played_any(samples[:max(0, end)], piece):
            problems.append("the corrupted delta was (partly) played")
    heap_peak = max((b for _, b in sim.heap), default=None)
    if heap_peak is not None and heap_peak > HEAP_LIMIT:
        problems.append("device heap peaked at %d bytes (limit %d)" % (heap_peak, HEAP_LIMIT))
    return {
        "name": sc.name, "fault": sc.fault, "phase": sc.phase, "mode": sc.mode,
        "specs": sc.specs, "expect": sc.expect, "ok": not problems, "problems": problems,
        "fault_at_s": None if t_fault is None else round(t_fault, 3),
        "recovered_s": None if recovered is None else round(recovered, 2),
        "bound_s": recovery_bound(sc), "end_state": end_state,
        "reconnects": max(0, sum(1 for _, s in states if s == "CONNECTING") - 1),
        "retries": sum(1 for line in result.log if _RETRY.search(line)),
        "final_turn_ok": final_ok, "heap_peak_device": heap_peak,
        "heap_peak_process": process_peak, "wall_s": round(wall, 1),
        "log_tail": [line for line in result.log if " D " not in line][-60:] if problems
        else [],
        "proxy": [("%.3f" % sim.sim_time(t), text) for t, text in proxy.events][-20:]
        if problems else [],
        "cloud": [_conn_summary(c) for c in cloud.connections] if problems else [],
        "turn_starts": [round(t, 3) for t in sim.turn_starts],
        "lag_max_s": round(sim.lag_max, 3),
        "heap_samples": [(round(t, 2), b) for t, b in sim.heap],
        "turns_spoken": sum(1 for t, s in states if s == "SPEAKING"
                            and sim.turn_starts and t > sim.turn_starts[0]),
    }
