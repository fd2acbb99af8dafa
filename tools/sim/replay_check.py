"""Replay a recorded session against the real app in the simulator and report departures.

    python -m tools.sim.replay_check tests/sessions/*.jsonl

The fake cloud replays the session (tools/cloud/replay.py, anchored to the app's uplink) and
the app runs with the config the session's header "sim" object holds (board, mode, codec,
rates, mic gate, greeting, volume; what tools/sim/record_sessions.py stores). The button is
pressed and released at the session's button records; the run stops where the recording's
simulator began to power the app off (`sim.end_at`), on the session's clock.

The mic hears what the recorded device streamed: the session's own append audio, decoded and
put back at the times it was sent (silence elsewhere). The session stays self-contained, and
the app's local VAD hears the speech it heard when the session was made.
"""

import asyncio
import base64
import os
import sys
import tempfile

import numpy as np

from tools.sim.harness import SimOptions, Simulation

MIC_RATE = 16000
_APPEND = "input_audio_buffer.append"


def _uplink_format(session):
    """(codec, rate) of the device's uplink from its first chat.update (Coze defaults else)."""
    for msg in session.ups():
        if msg.get("event_type") == "chat.update":
            inp = (msg.get("data") or {}).get("input_audio") or {}
            return inp.get("codec", "pcm"), int(inp.get("sample_rate", 24000))
    return "pcm", 24000


def mic_samples(session, offset):
    """int16 mic samples at MIC_RATE from sim t=0: the session's appends at their times."""
    from tools.cloud import audio

    codec, rate = _uplink_format(session)
    end = max([r["t"] for r in session.records] or [0.0]) + offset + 1.0
    out = np.zeros(int(end * MIC_RATE), dtype=np.int16)
    for rec in session.records:
        msg = rec.get("up")
        if msg is None or msg.get("event_type") != _APPEND:
            continue
        raw = base64.b64decode(msg["data"]["delta"])
        pcm = audio.resample(audio.decode(raw, codec), rate, MIC_RATE)
        # An append leaves right after its 20 ms frame was read: it was heard just before t.
        start = max(0, int(round((rec["t"] + offset) * MIC_RATE)) - len(pcm))
        n = min(len(pcm), len(out) - start)
        out[start:start + n] = pcm[:n]
    return out


def presses(session, offset):
    """[(press_s, release_s)] in sim time from the session's button records."""
    out, down = [], None
    for rec in session.of_kind("button"):
        if rec["button"] == "press":
            down = rec["t"] + offset
        elif rec["button"] == "release" and down is not None:
            out.append((round(down, 3), round(rec["t"] + offset, 3)))
            down = None
    return out


def replay_options(session, mic_path, echo=None, runtime="cpython", virtual_time=False):
    """SimOptions that replay `session` (a tools.session Session) with the app it recorded."""
    sim = session.header.get("sim")
    if not isinstance(sim, dict) or "end_at" not in sim:
        raise ValueError("session has no \"sim\" header (make it with tools.sim.record_sessions)")
    from tools.cloud.audio import write_wav

    offset = float(sim.get("session_offset", 0.0))
    write_wav(mic_path, mic_samples(session, offset), MIC_RATE)
    kw = {k: sim[k] for k in ("board", "mode", "codec", "in_rate", "out_rate", "mic_gate",
                              "greeting", "volume") if k in sim}
    return SimOptions(replay=session, mic=mic_path, presses=presses(session, offset),
                      end_at=float(sim["end_at"]), echo=echo, runtime=runtime,
                      virtual_time=virtual_time, **kw)


async def replay(session, echo=None, runtime="cpython", virtual_time=False):
    """Run the app against the replayed session: (SimResult, replay report). With
    virtual_time, await it on harness.run_on_loop(..., virtual_time=True)."""
    with tempfile.TemporaryDirectory() as tmp:
        options = replay_options(session, os.path.join(tmp, "mic.wav"), echo, runtime,
                                 virtual_time)
        result = await Simulation(options).run()
    return result, result.cloud.replay_report()


def played_whole(speaker, want, result, what="the reply"):
    """None when `want` came out of `speaker` sample for sample; else why not.

    On virtual time (the CPython runtime) no silence may sit inside it. In real time (the
    MicroPython device process) a loaded host inserts some, and how much depends on the host:
    the content around it is still checked sample by sample, and the silence itself is the
    device's gap report's business (result.gaps, `sim` fails on it, `make bench` measures the
    app's share), not a pass/fail figure of a test."""
    played = compare_played(speaker, want)
    if played["reason"] is not None:
        return "%s: %s" % (what, played["reason"])
    silent = sum(n for _, n in played["gaps"])
    if silent and result.options is not None and result.options.virtual_time:
        return "%s: %d samples of silence inside it on virtual time: %s" % (
            what, silent, played["gaps"][:8])
    return None


def compare_played(speaker, want):
    """How `want` came out of `speaker` (int16 arrays at the speaker rate).

    Returns {"reason", "gaps", "start"}: reason is None when every sample of `want` is in
    `speaker`, in order and exact, with only silence before and after it; otherwise what
    differs. gaps lists (sample, length) of silence inside the reply that `want` does not have:
    on the simulator that is the virtual TX DMA running dry when the host stalls the event loop
    longer than the DMA holds (21 ms at 24 kHz); the content around a gap must still be exact.
    """
    speaker = np.asarray(speaker, dtype=np.int16)
    want = np.asarray(want, dtype=np.int16)
    out = {"reason": None, "gaps": [], "start": None}
    if not want.any():
        out["reason"] = "the expected audio is all silence"
        return out
    if not speaker.any():
        out["reason"] = "the speaker stayed silent"
        return out
    i = int(np.flatnonzero(speaker)[0]) - int(np.flatnonzero(want)[0])
    if i < 0:
        out["reason"] = "sound before the expected audio could start"
        return out
    out["start"] = i
    j = 0
    while j < len(want):
        got = speaker[i:i + len(want) - j]
        exp = want[j:j + len(got)]
        bad = np.flatnonzero(got != exp)
        if not len(bad):
            if len(got) < len(want) - j:
                out["reason"] = "the speaker stopped %d samples early" % (len(want) - j - len(got))
                return out
            break
        k = int(bad[0])
        if got[k] != 0:
            out["reason"] = "sample %d of %d differs (%d, expected %d)" % (
                j + k, len(want), got[k], exp[k])
            return out
        # Silence where the reply has sound: skip it and go on where the sound resumes.
        rest = np.flatnonzero(speaker[i + k:])
        if not len(rest):
            out["reason"] = "the speaker went silent at sample %d of %d" % (j + k, len(want))
            return out
        out["gaps"].append((j + k, int(rest[0])))
        i, j = i + k + int(rest[0]), j + k
    tail = np.flatnonzero(speaker[i + len(want) - j:])
    if len(tail):
        out["reason"] = "%d non-zero samples after the expected audio ended" % len(tail)
    return out


def main(argv=None):
    from tools.session.format import read_session
    from tools.sim.record_sessions import ended_cleanly

    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m tools.sim.replay_check SESSION.jsonl ...")
        return 2
    bad = 0
    for path in paths:
        result, rep = asyncio.run(replay(read_session(path)))
        reason = ended_cleanly(result)
        deps = rep["departures"]
        ok = not deps and reason is None
        bad += not ok
        print("%-40s %s: %d connection(s), %d departure(s)%s" % (
            os.path.relpath(path), "ok" if ok else "FAILED", rep["connections"], len(deps),
            "; " + reason if reason else ""))
        for d in deps:
            print("    connection %(connection)d at %(t).3f s, uplink item %(index)s: expected "
                  "%(expected)s, got %(got)s" % d)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
