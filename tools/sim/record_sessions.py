"""Regenerate tests/sessions/*.jsonl: the real app in the simulator against the fake cloud.

Each scenario runs tools.sim Simulation (virtual hardware, the unchanged firmware app, the
recorder proxy, the built-in fake cloud) and keeps the recorder's format-v1 session. The mic
clips and the (short) reply are cut from the committed WAVs in tests/data, so the sessions
stay small and a rerun makes the same scenarios (times and ids differ run to run).

The header gets a "sim" object (readers ignore keys they do not know) with what the app's
config needs to replay the session (board, mode, codec, rates, mic gate, greeting, volume),
the sim time of the session's t=0 (`session_offset`) and the scenario's own description.
Button times are in the session's button records. tests/test_sessions.py replays every file.

usage: python -m tools.sim.record_sessions [--out tests/sessions] [NAME ...]
"""

import argparse
import asyncio
import os
import sys
import tempfile

import numpy as np

from tools.sim.harness import ROOT, SimOptions, Simulation

DATA = os.path.join(ROOT, "tests", "data")
OUT = os.path.join(ROOT, "tests", "sessions")
MIC_RATE = 16000
REPLY_S = 1.5  # the bot's answer: the first 1.5 s of tests/data/reply/reply.wav
REPLY_TEXT = "Hello, this is the fake cloud."
GREETING = "Hi! Hold the button and ask me anything."


def _wav(name):
    from tools.cloud.audio import read_wav, resample

    samples, rate = read_wav(os.path.join(DATA, name))
    return resample(samples, rate, MIC_RATE)


def question():
    """1.2 s of speech: the start of tests/data/mic/question.wav after its 0.3 s lead."""
    return _wav("mic/question.wav")[int(0.3 * MIC_RATE):int(1.5 * MIC_RATE)]


def question2():
    """1.0 s of speech: the start of tests/data/speech/en_2.wav ("Please set a timer")."""
    return _wav("speech/en_2.wav")[:MIC_RATE]


def mic_clip(path, total_s, *parts):
    """Write a mic WAV of `total_s` seconds: silence with each (start_s, samples) part in it."""
    from tools.cloud.audio import write_wav

    out = np.zeros(int(total_s * MIC_RATE), dtype=np.int16)
    for start, samples in parts:
        i = int(start * MIC_RATE)
        n = min(len(samples), len(out) - i)
        out[i:i + n] = samples[:n]
    write_wav(path, out, MIC_RATE)
    return path


def reply_wav(path):
    from tools.cloud.audio import read_wav, write_wav

    samples, rate = read_wav(os.path.join(DATA, "reply", "reply.wav"))
    write_wav(path, samples[:int(REPLY_S * rate)], rate)
    return path


# One question held on the button: press before the speech starts, release after it ends.
_PTT = {"mic": [(0.5, "q1")], "mic_s": 2.5, "presses": [(0.45, 1.8)]}
_PTT_TWICE = {"mic": [(0.5, "q1"), (2.45, "q2")], "mic_s": 4.0,
              "presses": [(0.45, 1.8), (2.4, 3.6)]}

# name -> (description, SimOptions keywords, mic/presses plan)
SCENARIOS = {
    "ptt_pcm16k": ("push-to-talk: one question, one answer; PCM 16 kHz both ways", {}, _PTT),
    "ptt_pcm24k": ("push-to-talk at 24 kHz both ways (the speaker bus rate: no resampling down)",
                   {"in_rate": 24000, "out_rate": 24000}, _PTT),
    "ptt_g711a": ("push-to-talk with G.711 A-law at 8 kHz both ways", {"codec": "g711a"}, _PTT),
    "ptt_g711u": ("push-to-talk with G.711 mu-law at 8 kHz both ways", {"codec": "g711u"}, _PTT),
    "free_talk": ("free talk: the fake cloud's server VAD ends the turn; mic gated while the "
                  "bot speaks", {"mode": "free"}, {"mic": [(0.6, "q1")], "mic_s": 5.0}),
    "bargein_button": (
        "push-to-talk barge-in: a press during the answer sends conversation.chat.cancel, the "
        "cloud answers canceled, the second question gets the answer",
        {}, {"mic": [(0.5, "q1"), (2.85, "q2")], "mic_s": 4.5,
             "presses": [(0.45, 1.8), (2.8, 4.0)]}),
    "bargein_voice": (
        "free talk barge-in by voice: mic not gated, the user speaks again during the answer; "
        "speech_started + canceled stop it, the second question gets the answer; uplink 8 kHz",
        {"mode": "free", "mic_gate": False, "in_rate": 8000},
        {"mic": [(0.6, "q1"), (3.0, "q2")], "mic_s": 7.0, "duration": 6.4}),
    "error_5000": ("an error event: the fake cloud answers the first complete with error 5000; "
                   "the next question works", {"inject": ["error:5000@complete"]}, _PTT_TWICE),
    "close_reconnect": (
        "the cloud closes the link (1011) in the middle of the answer; the app reconnects after "
        "its backoff and the next press works",
        {"inject": ["close@audio:5"]},
        {"mic": [(0.5, "q1"), (4.05, "q2")], "mic_s": 5.5,
         "presses": [(0.45, 1.8), (4.0, 5.2)]}),
    "tool_call": ("a tool call: the reply requires_action set_volume {level: 40}; the app runs "
                  "it and answers submit_tool_outputs, then the answer plays",
                  {"tool_call": ("set_volume", {"level": 40})}, _PTT),
    "greeting": ("a greeting: after connecting the app sends input_text.generate_audio once "
                 "and plays the spoken greeting; no button", {"greeting": GREETING},
                 {"mic": [], "mic_s": 1.0, "duration": 2.6}),
}


def _count(session, kind, etype, **data):
    """How many `kind` ("up"/"down") messages of `etype` whose data has these values."""
    from tools.session.format import event_type

    n = 0
    for rec in session.records:
        msg = rec.get(kind)
        if msg is None or event_type(msg) != etype:
            continue
        got = msg.get("data") if isinstance(msg.get("data"), dict) else {}
        if all(got.get(k) == v for k, v in data.items()):
            n += 1
    return n


def _audio_config(session):
    """((in codec, in rate), (out codec, out rate)) of the device's first chat.update."""
    for msg in session.ups():
        if msg.get("event_type") == "chat.update":
            d = msg["data"]
            out = d.get("output_audio", {})
            return ((d["input_audio"].get("codec"), d["input_audio"].get("sample_rate")),
                    (out.get("codec"), out.get("pcm_config", {}).get("sample_rate")))
    return None


def _closes(session):
    return [(r["close"].get("by"), r["close"].get("code")) for r in session.of_kind("close")]


def _codec(codec, rate):
    return ("%s %d Hz both ways" % (codec, rate),
            lambda s: _audio_config(s) == ((codec, rate), (codec, rate)))


_ANSWERED = ("one answer completed", lambda s: _count(s, "down", "conversation.chat.completed")
             == 1)

# name -> [(what the scenario must show, predicate(session))]: a recording that lacks one is
# not written, and tests/test_sessions.py checks the committed files against the same list.
EXPECT = {
    "ptt_pcm16k": [_codec("pcm", 16000), _ANSWERED,
                   ("one complete", lambda s: _count(s, "up", "input_audio_buffer.complete")
                    == 1)],
    "ptt_pcm24k": [_codec("pcm", 24000), _ANSWERED],
    "ptt_g711a": [_codec("g711a", 8000), _ANSWERED],
    "ptt_g711u": [_codec("g711u", 8000), _ANSWERED],
    "free_talk": [("server VAD turn, no complete", lambda s: _count(
                      s, "down", "input_audio_buffer.speech_stopped") == 1 and _count(
                      s, "up", "input_audio_buffer.complete") == 0), _ANSWERED],
    "bargein_button": [
        ("cancel up, canceled down", lambda s: _count(s, "up", "conversation.chat.cancel") == 1
         and _count(s, "down", "conversation.chat.canceled") == 1),
        ("the second question answered", lambda s: _count(
            s, "down", "conversation.chat.completed") == 1 and _count(
            s, "up", "input_audio_buffer.complete") == 2)],
    "bargein_voice": [
        ("speech during the answer cancels it", lambda s: _count(
            s, "down", "input_audio_buffer.speech_started") == 2 and _count(
            s, "down", "conversation.chat.canceled") == 1),
        ("uplink 8 kHz PCM", lambda s: _audio_config(s)[0] == ("pcm", 8000)),
        ("the second question answered", lambda s: _count(
            s, "down", "conversation.chat.completed") == 1)],
    "error_5000": [("error 5000", lambda s: _count(s, "down", "error", code=5000) == 1),
                   _ANSWERED],
    "close_reconnect": [
        ("closed by the cloud mid-answer, then a second connection", lambda s: _closes(s)[:1]
         == [("cloud", 1011)] and len(_closes(s)) == 2 and _count(
             s, "down", "chat.created") == 2),
        _ANSWERED],
    "tool_call": [("requires_action answered with submit_tool_outputs", lambda s: _count(
        s, "down", "conversation.chat.requires_action") == 1 and _count(
        s, "up", "conversation.chat.submit_tool_outputs") == 1), _ANSWERED],
    "greeting": [("generate_audio once, its audio completed", lambda s: _count(
        s, "up", "input_text.generate_audio", text=GREETING) == 1 and _count(
        s, "down", "conversation.audio.completed") == 1)],
}


def unmet(name, session):
    """The EXPECT lines `session` does not show."""
    out = []
    for what, ok in EXPECT[name]:
        try:
            good = ok(session)
        except (KeyError, TypeError, IndexError):
            good = False
        if not good:
            out.append(what)
    return out


# What the app's config needs to replay a session; copied into the header's "sim" object.
SIM_KEYS = ("board", "mode", "codec", "in_rate", "out_rate", "mic_gate", "greeting", "volume")


def options_for(name, tmp, session_out=None, echo=None):
    description, kw, plan = SCENARIOS[name]
    clips = {"q1": question(), "q2": question2()}
    mic = mic_clip(os.path.join(tmp, name + "-mic.wav"), plan["mic_s"],
                   *[(t, clips[c]) for t, c in plan["mic"]])
    cloud = {"reply_wav": reply_wav(os.path.join(tmp, "reply.wav")), "reply_text": REPLY_TEXT,
             "greeting_text": GREETING, "think_s": 0.2, "seed": 7}
    return SimOptions(mic=mic, presses=list(plan.get("presses", [])),
                      duration=plan.get("duration"), cloud_options=cloud,
                      session_out=session_out, echo=echo, **kw)


async def record(name, tmp, echo=None):
    """Run one scenario; returns (SimResult, Session with the "sim" header filled in)."""
    o = options_for(name, tmp, echo=echo)
    result = await Simulation(o).run()
    session = result.session
    sim = {k: getattr(o, k) for k in SIM_KEYS}
    sim["session_offset"] = round(result.session_offset, 4)
    # Where the replay stops: when the simulator began to power the app off.
    off = result.events("power_off")
    sim["end_at"] = round((off[-1] if off else 0.0) - result.session_offset, 3)
    session.header.update({"description": SCENARIOS[name][0], "scenario": name, "sim": sim,
                           "made_by": "python -m tools.sim.record_sessions " + name})
    return result, session


def ended_cleanly(result):
    """None, or why the app did not end cleanly: a crashed task, or stuck in ERROR."""
    if result.crashed:
        return "the app crashed: " + result.crashed
    states = [s for _, s in result.states()]
    if not states:
        return "the app never started"
    if states[-1] == "ERROR":
        return "the app ended in ERROR"
    return None


def problems(name, result, session):
    """Why a recording is not usable (the app did not do what the scenario is about)."""
    reason = ended_cleanly(result)
    out = [reason] if reason else []
    return out + ["missing: " + what for what in unmet(name, session)]


def main(argv=None):
    from tools.session.format import write_session

    ap = argparse.ArgumentParser(prog="python -m tools.sim.record_sessions",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=OUT)
    ap.add_argument("names", nargs="*", help="scenarios (default: all): " + " ".join(SCENARIOS))
    args = ap.parse_args(argv)
    names = args.names or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error("unknown scenario(s): %s" % ", ".join(unknown))
    os.makedirs(args.out, exist_ok=True)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            result, session = asyncio.run(record(name, tmp))
            bad = problems(name, result, session)
            path = os.path.join(args.out, name + ".jsonl")
            if bad:
                failed += 1
                print("%-16s NOT written: %s" % (name, "; ".join(bad)))
                continue
            write_session(session, path)
            print("%-16s %s  %d records, %d KB" % (name, os.path.relpath(path),
                                                   len(session.records),
                                                   os.path.getsize(path) // 1024))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
