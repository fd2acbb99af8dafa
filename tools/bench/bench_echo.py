"""Voice barge-in in free talk with the speaker's echo in the mic (`make bench` rows, issue 17).

Each trial is one simulated free-talk session (tools/sim on the CPython runtime, virtual time)
in a room (tools/mpsim/vroom.py): the board hears its own speaker at echo -12, -6 or 0 dB
(the direct path between the speaker's and the mic's PCM16), 5-60 ms late, with a fixed tail
and steady white noise 20 dB under the user's voice. The user (espeak-ng, en-us) asks a
question at 0.3 s; the bot (espeak-ng, en-gb female: the fake cloud's reply WAV) answers for
about 7 s. In a barge-in trial the user speaks over the answer 0.8-3.2 s into it, 6 dB above
the echo in the mic; in a quiet trial the user says nothing more.

Measured from what is visible outside the device (tools/bench/echo_metrics.py): the speaker's
samples, the cancels in the session recording and the mic WAV the bench wrote, so the same
harness measures every echo mode: "gate" (the mic muted while the bot speaks), "off" (the mic
always open) and "aware" (double-talk detection; skipped where firmware/config.py does not know
the `echo` key yet). Rows per mode at -6 dB, with the -12 / 0 dB figures in each row's table:
- bargein_voice_false_per_min: self-interruptions (the bot stopped, or a cancel went out,
  while the user had been silent) per minute of bot speech; target 0 for "aware";
- bargein_voice_recall: barge-ins detected (the speaker fell silent before the answer's end
  and within 2 s of the user's onset) over the trials where the bot was speaking at the onset;
  target >= 0.95 over >= 40 trials for "aware";
- bargein_voice_latency_ms: median from the user's onset to the speaker's silence, the cloud
  VAD's delay included; target <= 400 for "aware".
The "gate" and "off" rows are report only: today's behaviour, the "before" figures. A few
trials at -6 dB also run the deployed firmware in the MicroPython unix port (real time, so
report-only rows with the suffix _micropython): the same room, the same metrics.
Every trial's inputs and evidence go to out/bench_echo/trials-RUNTIME.json.
usage: .venv/bin/python tools/bench/bench_echo.py [--quick] [--runtime=cpython|micropython]
       [--mode=aware|gate|off]
"""

import hashlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("lib", "firmware", ""):
    if os.path.join(ROOT, _sub) not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, _sub))

import compat  # noqa: E402,F401 - MicroPython shims before device modules
from tools.bench import echo_metrics as M  # noqa: E402

TIER = "simulator"
TRIALS_DIR = os.path.join(ROOT, "out", "bench_echo", "trials")
MODES = ("aware", "gate", "off")
TARGETED = "aware"  # the targets are the new device's; the others are the "before" figures
ECHO_DBS = (-12, -6, 0)
HEADLINE_DB = -6
DELAYS_MS = (5, 10, 20, 35, 50, 60)
OFFSETS_S = (0.8, 1.4, 2.0, 2.6, 3.2)  # the user's onset after the answer began
BARGE_TRIALS = {-12: 10, -6: 40, 0: 10}
QUIET_TRIALS = 3  # per echo level
MP_BARGE_TRIALS = 6  # MicroPython: real time, at HEADLINE_DB only
MP_QUIET_TRIALS = 1
# The answer's speech level at the speaker pins (volume 70 is unity gain). With the boards'
# +12 dB mic shift the user reaches the uplink at -34..-22 dBFS over the sweep and the noise
# stays under the fake cloud's -40 dBFS VAD threshold (a louder room is a VAD test, not this).
BOT_DBFS = -40.0
USER_OVER_ECHO_DB = 6.0
SNR_DB = 20.0  # the user's speech over the room's noise
MIC_RATE = 16000
QUESTION_AT_S = 0.3
BARGE_TAIL_S = 3.0  # a barge-in trial runs this long after the onset
QUIET_TAIL_S = 1.5  # a quiet trial runs this long after the whole answer
WORKERS = 2
QUESTION = "What will the weather be like this afternoon?"
ANSWER = ("The weather today is mostly sunny with a light breeze from the west, and "
          "temperatures around twenty degrees, a good day for a walk in the park.")
BARGE_INS = ("Stop, wait a second.", "Hold on, I have a question.",
             "Sorry, can you repeat that?", "No, that is not what I meant.",
             "Okay, thanks, that is enough.", "Wait, what about tomorrow?")
USER_VOICE = ("en-us", 165, 50)
BOT_VOICE = ("en-gb+f3", 170, 55)


# -- inputs ------------------------------------------------------------------------------------

def level_dbfs(samples, rate):
    """Speech level: RMS over the 20 ms windows within 30 dB of the loudest (pauses left out)."""
    x = np.asarray(samples, dtype=np.float64)
    win = rate // 50
    n = len(x) // win
    if n == 0:
        return -120.0
    rms = np.sqrt(np.mean(x[:n * win].reshape(n, win) ** 2, axis=1))
    loud = rms[rms >= rms.max() * 10 ** (-30 / 20)]
    return 20 * float(np.log10(np.sqrt(np.mean(loud ** 2)) / 32768))


def at_level(samples, rate, dbfs):
    gain = 10 ** ((dbfs - level_dbfs(samples, rate)) / 20)
    out = np.round(np.asarray(samples, dtype=np.float64) * gain)
    return np.clip(out, -32768, 32767).astype(np.int16)


def _write_cached(samples, rate, tag):
    from tools.cloud.audio import write_wav

    digest = hashlib.sha256(samples.tobytes() + str(rate).encode()).hexdigest()[:16]
    path = os.path.join(TRIALS_DIR, "%s-%s.wav" % (tag, digest))
    if not os.path.exists(path):
        os.makedirs(TRIALS_DIR, exist_ok=True)
        tmp = path + ".%d.tmp" % os.getpid()
        write_wav(tmp, samples, rate)
        os.replace(tmp, path)
    return path


def mic_clip(parts, total_s):
    """Silence with each (start_s, int16 at MIC_RATE) in it; (samples, user spans on the
    timeline)."""
    out = np.zeros(int(total_s * MIC_RATE), dtype=np.int16)
    spans = []
    for start, clip in parts:
        i = int(round(start * MIC_RATE))
        take = clip[:max(0, len(out) - i)]
        out[i:i + len(take)] = take
        span = M.sound_span_s(clip, MIC_RATE)
        if span is not None:
            spans.append((start + span[0], start + span[1]))
    return out, spans


class Material:
    """The speech every trial uses, made once: the question, the answer, the barge-ins."""

    def __init__(self, espeak):
        from tools.bench.echo_speech import speak
        from tools.cloud.audio import resample

        def user(text):
            samples, rate = speak(espeak, text, *USER_VOICE)
            return resample(samples, rate, MIC_RATE)

        answer, rate = speak(espeak, ANSWER, *BOT_VOICE)
        answer = at_level(answer, rate, BOT_DBFS)
        self.answer_wav = _write_cached(answer, rate, "answer")
        # As the speaker plays it: the fake cloud resamples the WAV to the downlink's rate.
        played = resample(answer, rate, MIC_RATE)
        first, last = M.sound_span_s(played, MIC_RATE)
        self.answer_s = last - first
        self.min_gap_s = max(0.3, M.longest_pause_s(played, MIC_RATE) + 0.1)
        self.question = user(QUESTION)
        self.barge_ins = [user(text) for text in BARGE_INS]


def echo_setup(mode):
    """SimOptions keywords for an echo mode, or None when this firmware has no such mode."""
    import config

    if "echo" in config.DEFAULTS:
        return {"mic_gate": None, "extra_config": {"echo": mode}}
    if mode == "aware":
        return None
    # Before the `echo` key: mic_gate_while_speaking true is "gate", false is "off".
    return {"mic_gate": mode == "gate"}


def plan(material, mode, answer_start_s, echo_dbs=ECHO_DBS, barge=BARGE_TRIALS,
         quiet=QUIET_TRIALS, runtime="cpython"):
    """Every trial of one echo mode: specs for trial()."""
    specs = []
    for echo_db in echo_dbs:
        user_db = BOT_DBFS + echo_db + USER_OVER_ECHO_DB
        noise_db = user_db - SNR_DB
        question = at_level(material.question, MIC_RATE, user_db)
        runs = [("quiet", i) for i in range(quiet)] + [("barge", i) for i in
                                                       range(barge[echo_db])]
        for kind, i in runs:
            parts = [(QUESTION_AT_S, question)]
            onset = offset = said = None
            if kind == "barge":
                offset, said = OFFSETS_S[i % len(OFFSETS_S)], BARGE_INS[i % len(BARGE_INS)]
                clip = at_level(material.barge_ins[i % len(material.barge_ins)], MIC_RATE,
                                user_db)
                start = answer_start_s + offset
                parts.append((start, clip))
                onset = start + M.sound_span_s(clip, MIC_RATE)[0]
                total = onset + BARGE_TAIL_S
            else:
                total = answer_start_s + material.answer_s + QUIET_TAIL_S
            samples, spans = mic_clip(parts, total)
            specs.append({
                "kind": kind, "mode": mode, "runtime": runtime, "echo_db": echo_db,
                "noise_db": noise_db,
                "delay_ms": DELAYS_MS[(i + (kind == "quiet") * 3) % len(DELAYS_MS)],
                "seed": i + 1, "mic": _write_cached(samples, MIC_RATE, "mic"),
                "duration": total, "onset": onset, "offset_s": offset, "said": said,
                "user_spans": spans,
                "answer": material.answer_wav, "answer_s": material.answer_s,
                "min_gap_s": material.min_gap_s})
    return specs


# -- one trial (a worker process) ----------------------------------------------------------------

def simulate(spec):
    from tools.sim.harness import SimOptions, run_simulation

    runtime = spec.get("runtime", "cpython")
    options = SimOptions(mode="free", mic=spec["mic"], duration=spec["duration"], echo=None,
                         runtime=runtime, virtual_time=runtime == "cpython",
                         echo_db=spec.get("echo_db"),
                         echo_delay_ms=spec.get("delay_ms", 20), noise_db=spec.get("noise_db"),
                         room_seed=spec.get("seed", 1),
                         cloud_options={"reply_wav": spec["answer"]}, **echo_setup(spec["mode"]))
    result = run_simulation(options, timeout=300)
    if result.crashed:
        raise RuntimeError("the simulated app crashed: " + result.crashed)
    return result


def cancels(result):
    """Times of the device's cancels and the cloud's canceled events, on the timeline."""
    out = []
    for rec in result.session.records:
        up, down = rec.get("up") or {}, rec.get("down") or {}
        if up.get("event_type") == "conversation.chat.cancel" or \
                down.get("event_type") == "conversation.chat.canceled":
            out.append(rec["t"] + result.session_offset)
    return out


def evidence(result, spec):
    samples, rate = result.speaker
    segs = M.segments(samples, rate, result.speaker_t0, spec["min_gap_s"])
    host = [(g["t"], g["t"] + g["ms"] / 1000) for g in result.gaps if g["cause"] == "host"]
    segs = M.join_across(segs, host)
    # The script's end: the speaker record runs on a little while the app powers off.
    run_end = min(result.speaker_t0 + len(samples) / rate, spec["duration"])
    stops = cancels(result)
    events = M.interruptions(segs, spec["answer_s"], stops, spec["user_spans"], run_end)
    out = {"kind": spec["kind"], "echo_db": spec["echo_db"], "segments": segs,
           "false": sum(1 for _, false in events if false), "bot_s": M.bot_seconds(segs)}
    if spec["kind"] == "barge":
        out["barge"] = M.barge_in(segs, spec["onset"], spec["answer_s"], stops)
    return out


def trial(spec):
    return evidence(simulate(spec), spec)


def answer_start(material, runtime="cpython"):
    """When the first answer starts sounding after the question (virtual time: every trial
    hears the same question at the same time, so one run tells them all; in real time, within
    a few tens of ms, and the metrics read each trial's own speaker anyway)."""
    samples, spans = mic_clip([(QUESTION_AT_S, material.question)], 6.0)
    spec = {"kind": "quiet", "mode": "gate", "runtime": runtime,
            "mic": _write_cached(samples, MIC_RATE, "mic"),
            "duration": 6.0, "answer": material.answer_wav, "answer_s": material.answer_s,
            "min_gap_s": material.min_gap_s, "user_spans": spans, "echo_db": None}
    segs = evidence(simulate(spec), spec)["segments"]
    if not segs:
        raise RuntimeError("bench_echo: no answer played after the question")
    return segs[0][0]


# -- rows ------------------------------------------------------------------------------------

def _key(metric, mode, runtime="cpython"):
    return "bargein_voice_%s%s%s" % (metric, "" if mode == TARGETED else "_" + mode,
                                     "" if runtime == "cpython" else "_" + runtime)


def _fmt(value, digits=2):
    return None if value is None else round(float(value), digits)


def rows_for(mode, stats, skipped=None, runtime="cpython"):
    """Three rows for one echo mode from {echo_db: summary} (or all skipped, with why); the
    targets are the CPython rows' (virtual time: no host-dependent outcome)."""
    targets = {"false_per_min": "== 0", "recall": ">= 0.95", "latency_ms": "<= 400"}
    units = {"false_per_min": "/min", "recall": "ratio", "latency_ms": "ms"}
    rows = []
    for metric in ("false_per_min", "recall", "latency_ms"):
        row = {"key": _key(metric, mode, runtime), "unit": units[metric], "tier": TIER,
               "target": targets[metric] if mode == TARGETED and runtime == "cpython"
               else None}
        if skipped:
            row.update(value=None, what="runtime %s, echo %r: %s" % (runtime, mode, skipped))
            rows.append(row)
            continue
        head = stats[HEADLINE_DB]
        value = {"false_per_min": head["false_per_min"], "recall": head["recall"],
                 "latency_ms": head["latency_median_ms"]}[metric]
        row["value"] = _fmt(value, 3 if metric == "recall" else 1)
        row["what"] = (
            "runtime %s, echo %r, free talk, esp32s3_inmp441, echo %d dB "
            "(delays %d-%d ms, tail), noise %d dB under the user, user %d dB over the echo: "
            "%d false in %.2f min of bot speech; recall %s of %d barge-ins (%d skipped: the bot "
            "silent or already stopping at the onset); latency median %s ms, max %s ms" % (
                _RUNTIME_TEXT[runtime], mode, HEADLINE_DB, DELAYS_MS[0], DELAYS_MS[-1],
                SNR_DB, USER_OVER_ECHO_DB,
                head["false"], head["bot_min"], _fmt(head["recall"], 3), head["barge_trials"],
                head["barge_skipped"], _fmt(head["latency_median_ms"], 0),
                _fmt(head["latency_max_ms"], 0)))
        row["table_columns"] = ["echo level", "false/min", "bot min", "recall", "trials",
                                "latency ms"]
        row["table"] = [["echo %d dB" % db, _fmt(s["false_per_min"]), _fmt(s["bot_min"]),
                         _fmt(s["recall"], 3), s["barge_trials"],
                         _fmt(s["latency_median_ms"], 0)] for db, s in sorted(stats.items())]
        rows.append(row)
    return rows


_RUNTIME_TEXT = {"cpython": "cpython (virtual time)",
                 "micropython": "micropython (unix port, deployed .mpy, real time)"}
RUNTIMES = ("cpython", "micropython")


def _plans(material, runtime, quick, modes=MODES):
    if runtime == "cpython":
        barge = {db: 4 for db in ECHO_DBS} if quick else BARGE_TRIALS
        quiet = 1 if quick else QUIET_TRIALS
        echo_dbs = ECHO_DBS
    else:
        barge, quiet, echo_dbs = {HEADLINE_DB: 2 if quick else MP_BARGE_TRIALS}, \
            MP_QUIET_TRIALS, (HEADLINE_DB,)
    start = answer_start(material, runtime)
    specs = []
    for mode in modes:
        if echo_setup(mode) is not None:
            specs.extend(plan(material, mode, start, echo_dbs, barge, quiet, runtime))
    return specs


def write_trials(runtime, specs, results):
    """Every trial's inputs and evidence, for reading a row's figure back to its sessions:
    out/bench_echo/trials-RUNTIME.json."""
    import json

    keep = ("kind", "mode", "echo_db", "delay_ms", "noise_db", "seed", "said", "offset_s",
            "onset", "duration", "mic", "user_spans")
    out = []
    for spec, res in zip(specs, results, strict=True):
        entry = {k: spec[k] for k in keep}
        entry.update(false=res["false"], bot_s=round(res["bot_s"], 3), barge=res.get("barge"),
                     segments=[[round(float(a), 3), round(float(b), 3)]
                               for a, b in res["segments"]])
        out.append(entry)
    path = os.path.join(os.path.dirname(TRIALS_DIR), "trials-%s.json" % runtime)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    return path


def measure(quick=False, runtimes=RUNTIMES, modes=MODES):
    from tools.bench.echo_speech import ensure_espeak

    espeak, why = ensure_espeak()
    if espeak is None:
        print("bench_echo: skipped: " + why)
        return [row for runtime in runtimes for mode in modes
                for row in rows_for(mode, None, skipped=why, runtime=runtime)]
    material = Material(espeak)
    rows = []
    for runtime in runtimes:
        specs = _plans(material, runtime, quick, modes)
        with ProcessPoolExecutor(WORKERS) as pool:
            results = list(pool.map(trial, specs))
        print("bench_echo: every trial in " + os.path.relpath(write_trials(runtime, specs,
                                                                          results)))
        for mode in modes:
            if echo_setup(mode) is None:
                rows.extend(rows_for(mode, None, runtime=runtime, skipped=(
                    "this firmware's config has no `echo` key (firmware/config.py), so no "
                    "such mode to measure")))
                continue
            mine = [r for s, r in zip(specs, results, strict=True) if s["mode"] == mode]
            levels = sorted({r["echo_db"] for r in mine})
            stats = {db: M.summary([r for r in mine if r["echo_db"] == db]) for db in levels}
            rows.extend(rows_for(mode, stats, runtime=runtime))
    return rows


def run():
    return measure()


if __name__ == "__main__":
    import json

    def given(flag, default):
        return [a.split("=", 1)[1] for a in sys.argv if a.startswith(flag + "=")] or default

    for row in measure(quick="--quick" in sys.argv, runtimes=given("--runtime", RUNTIMES),
                       modes=given("--mode", MODES)):
        print(json.dumps({k: v for k, v in row.items() if k != "table"}))
        for line in row.get("table") or []:
            print("    ", line)
