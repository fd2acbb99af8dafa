"""The simulator: the real firmware app on virtual hardware, talking to a fake or real cloud.

    python -m tools.sim                        # push-to-talk: the bundled question, fake cloud
    python -m tools.sim --mode free --mic my.wav --duration 15
    COZE_TOKEN=pat_... COZE_BOT_ID=7... python -m tools.sim   # the same against the real Coze

Writes the speaker output (everything the app played, silence included, at the speaker rate),
the session file (format v1, token redacted), a JSON report and a timeline PNG. Exits 0 when the
session ran and ended cleanly, otherwise 1 with a one-line reason.
"""

import argparse
import json
import os
import sys

from tools.sim.gaps import describe
from tools.sim.harness import DEFAULT_MIC, ROOT, SimOptions, run_simulation
from tools.sim.metrics import report
from tools.sim.mpruntime import DEFAULT_HEAP_BYTES

REAL_COZE = "wss://ws.coze.cn"


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m tools.sim", description=__doc__.splitlines()[0])
    p.add_argument("--url", help="cloud base URL (default: start the built-in fake cloud; "
                   "with a token and bot id: %s)" % REAL_COZE)
    p.add_argument("--token", help="cloud token (default: $COZE_TOKEN)")
    p.add_argument("--bot-id", help="Coze bot id (default: $COZE_BOT_ID)")
    p.add_argument("--cloud", choices=("coze", "qwen"), default="coze")
    p.add_argument("--mode", choices=("ptt", "free"), default="ptt")
    p.add_argument("--board", default="esp32s3_inmp441")
    p.add_argument("--codec", choices=("pcm", "g711a", "g711u"), default="pcm")
    p.add_argument("--in-rate", type=int, help="uplink rate in Hz")
    p.add_argument("--out-rate", type=int, help="downlink rate in Hz")
    p.add_argument("--mic", default=DEFAULT_MIC, help="WAV the mic hears from t=0")
    p.add_argument("--press", type=float, action="append", default=[],
                   help="press the button at S seconds (repeatable)")
    p.add_argument("--release", type=float, action="append", default=[],
                   help="release it at S seconds (repeatable, one per --press)")
    p.add_argument("--duration", type=float, help="run this long (default: until the last "
                   "answer has played); either way a run ends 2 s after the app stopped in "
                   "ERROR with no press left, since only a press leaves it")
    p.add_argument("--burst", action="store_true", help="fake cloud ignores pacing")
    p.add_argument("--inject", action="append", default=[],
                   help="fake-cloud fault, e.g. error:5000@complete, close@audio:5")
    p.add_argument("--out-dir", default=os.path.join(ROOT, "out"))
    p.add_argument("--speaker-out", help="speaker WAV (default OUT_DIR/sim-speaker.wav)")
    p.add_argument("--session-out", help="session file (default OUT_DIR/sim-session.jsonl)")
    p.add_argument("--report-json", help="report (default OUT_DIR/sim-report.json)")
    p.add_argument("--timeline", help="timeline PNG (default OUT_DIR/sim-timeline.png)")
    p.add_argument("--runtime", choices=("cpython", "micropython"), default="cpython",
                   help="run the app in this process (cpython) or deployed as .mpy in the "
                   "MicroPython unix port (micropython)")
    p.add_argument("--heap-kb", type=int, help="micropython: the device's heap in KB "
                   "(-X heapsize; default %d)" % (DEFAULT_HEAP_BYTES // 1024))
    p.add_argument("--tls", action="store_true", help="the device talks wss:// to the "
                   "simulator, with a CA and certificate made for this run (its ca_file)")
    p.add_argument("--ca-file", help="the device's ca_file (a CA bundle, PEM or DER)")
    p.add_argument("--allow-gaps", action="store_true", help="do not fail a run whose answer "
                   "had silence inside it (the report lists each gap and its cause either way)")
    p.add_argument("--echo-db", type=float, help="the room: the speaker's output reaches the "
                   "mic at this level, dB of the direct path between the speaker's PCM16 and "
                   "the mic's PCM16 (0: equal; default: no echo path; tools/mpsim/vroom.py)")
    p.add_argument("--echo-delay-ms", type=float, default=20.0, help="the echo's acoustic "
                   "delay in ms (default 20; a fixed tail of reflections follows it)")
    p.add_argument("--noise-db", type=float, help="steady white noise at the mic, RMS in dBFS "
                   "of its PCM16 (default: none)")
    p.add_argument("--reply", help="the fake cloud answers with this 16-bit WAV")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="set a device config key (VALUE as JSON, else a string), e.g. "
                   "--config mic_gate_while_speaking=false (repeatable)")
    p.add_argument("--virtual-time", action="store_true", help="cpython with the built-in "
                   "fake cloud: run on a time-compacting clock (looptime), so the session's "
                   "order and timing hold but its waiting takes no real time")
    p.add_argument("--verbose", action="store_true", help="also print the app's log lines")
    p.add_argument("--setup", action="store_true", help="start the board in setup mode (no "
                   "config.json): print its setup page's URL, wait for the form, then restart "
                   "into the session with the config it saved (tools/sim/setup_run.py)")
    return p.parse_args(argv)


def default_presses(mic_path, mode):
    """Push-to-talk default: hold the button from 1 s to just after the mic file ends."""
    if mode != "ptt":
        return []
    from tools.cloud.audio import read_wav

    samples, rate = read_wav(mic_path)
    return [(1.0, round(1.0 + len(samples) / rate + 0.2, 2))]


def config_pairs(items):
    """["key=json", ...] -> {key: value}; a VALUE that is not JSON is taken as a string. A key
    the firmware does not know stops here, with one line (the device would refuse it)."""
    import config

    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit("sim: --config wants KEY=VALUE, not %r" % item)
        if key.strip() not in config.DEFAULTS:
            raise SystemExit("sim: --config %s: not a config key (see firmware/config.py "
                             "DEFAULTS)" % key.strip())
        try:
            out[key.strip()] = json.loads(text)
        except ValueError:
            out[key.strip()] = text
    return out


def build_options(args, env=os.environ):
    if len(args.press) != len(args.release):
        raise SystemExit("sim: give one --release per --press")
    presses = list(zip(args.press, args.release, strict=True))
    for press, release in presses:
        if release <= press:
            raise SystemExit("sim: each --release must come after its --press")
    token = args.token or env.get("COZE_TOKEN")
    bot_id = args.bot_id or env.get("COZE_BOT_ID")
    url = args.url
    if url is None and token and (bot_id or args.cloud == "qwen"):
        url = REAL_COZE if args.cloud == "coze" else None
    if args.virtual_time and (args.runtime != "cpython" or url or args.setup):
        # The MicroPython device, a real cloud and a browser all keep real time.
        raise SystemExit("sim: --virtual-time needs --runtime cpython and the built-in fake "
                         "cloud (no --url, no --setup)")
    out = args.out_dir
    extra = {"ca_file": os.path.abspath(args.ca_file)} if args.ca_file else {}
    extra.update(config_pairs(args.config))
    cloud_options = {"reply_wav": os.path.abspath(args.reply)} if args.reply else {}
    return SimOptions(
        url=url, token=token if url else None, bot_id=bot_id, cloud=args.cloud, mode=args.mode,
        board=args.board, codec=args.codec, in_rate=args.in_rate, out_rate=args.out_rate,
        mic=args.mic, presses=presses or default_presses(args.mic, args.mode),
        duration=args.duration, burst=args.burst, inject=args.inject,
        session_out=args.session_out or os.path.join(out, "sim-session.jsonl"),
        log_level="debug" if args.verbose else "info", runtime=args.runtime,
        tls=True if args.tls else None, extra_config=extra, cloud_options=cloud_options,
        echo_db=args.echo_db, echo_delay_ms=args.echo_delay_ms, noise_db=args.noise_db,
        heap_bytes=args.heap_kb * 1024 if args.heap_kb else None)


def verdict(result, options, allow_gaps=False):
    """None when the session ended cleanly, else a one-line reason."""
    if result.crashed:
        return "the app crashed: " + result.crashed
    states = [s for _, s in result.states()]
    if not states:
        return "the app never started (see the log above)"
    if states[-1] == "ERROR":
        errors = [line for line in result.log if " E " in line]
        return "the app ended in ERROR: " + (errors[-1].strip() if errors else "see the log")
    if options.presses and options.mode == "ptt":
        turns = states.count("SPEAKING")
        if turns < len(options.presses):
            return "%d press(es) but %d answer(s) played" % (len(options.presses), turns)
    samples, _ = result.speaker
    if options.presses and not (samples != 0).any():
        return "the speaker stayed silent"
    if result.gaps and not allow_gaps:
        return "an answer had %d gap(s), %d ms in all; first: %s (--allow-gaps accepts them)" % (
            len(result.gaps), sum(g["ms"] for g in result.gaps), describe(result.gaps[0]))
    return None


def write_outputs(result, options, args, rep):
    from tools.cloud.audio import write_wav
    from tools.timeline import draw

    out = args.out_dir
    os.makedirs(out, exist_ok=True)
    paths = {
        "speaker": args.speaker_out or os.path.join(out, "sim-speaker.wav"),
        "session": options.session_out,
        "report": args.report_json or os.path.join(out, "sim-report.json"),
        "timeline": args.timeline or os.path.join(out, "sim-timeline.png"),
    }
    import numpy as np

    samples, rate = result.speaker
    # From t=0 of the simulation: the bus is created a moment after start, silent until then.
    lead = np.zeros(max(0, int(round(result.speaker_t0 * rate))), dtype=np.int16)
    samples = np.concatenate([lead, samples])
    write_wav(paths["speaker"], samples, rate)
    with open(paths["report"], "w") as f:
        json.dump(rep, f, indent=1)
    draw(paths["timeline"], session=result.session, states=result.states(),
         speaker=(samples, rate), session_offset=result.session_offset,
         title="simulated %s session (%s)" % (options.mode, "real cloud" if options.url
                                              else "fake cloud"))
    return paths


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    options = build_options(args)
    options.virtual_time = args.virtual_time
    if args.setup:
        from tools.sim.setup_run import run_setup

        options = run_setup(args, options)
        if options is None:
            return 1
    where = options.url or "the built-in fake cloud"
    print("sim: %s session on %s, board %s, %s, runtime %s, talking to %s" % (
        options.mode, "a virtual " + options.board, options.board, options.codec,
        options.runtime, where))
    if options.echo_db is not None or options.noise_db is not None:
        print("sim: room: echo %s, noise %s" % (
            "none" if options.echo_db is None else "%g dB at %g ms" % (options.echo_db,
                                                                    options.echo_delay_ms),
            "none" if options.noise_db is None else "%g dBFS" % options.noise_db))
    # The recorder writes the session while it runs: its folder must exist (out/ is not in git).
    os.makedirs(os.path.dirname(os.path.abspath(options.session_out)), exist_ok=True)
    result = run_simulation(options)
    reason = verdict(result, options, allow_gaps=args.allow_gaps)
    rep = report(result, reason)
    paths = write_outputs(result, options, args, rep)
    med = rep["latency_median_ms"]
    print("sim: %d answer(s); press->first append %s ms, release->complete %s ms, "
          "first audio->sound %s ms, barge-in->silence %s ms; underruns %s; reconnects %d" % (
              rep["turns"], med["press_to_first_append_ms"], med["release_to_complete_ms"],
              med["first_audio_to_sound_ms"], med["bargein_to_silence_ms"], rep["underruns"],
              rep["reconnects"]))
    for gap in rep["gaps"]:
        print("sim: gap: " + describe(gap))
    for name in ("speaker", "session", "report", "timeline"):
        print("sim: %-8s %s" % (name, os.path.relpath(paths[name])))
    if reason:
        print("sim: FAILED: " + reason)
        return 1
    print("sim: ok")
    return 0
