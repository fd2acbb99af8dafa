"""Draw a session timeline PNG: state bands, uplink / downlink events, the speaker waveform.

    draw(out_png, session=..., states=[(t, "LISTENING"), ...], speaker_wav="speaker.wav")

All times are seconds on the simulator's clock; `session_offset` is added to the session's own
times (which count from the WebSocket open). Audio events (appends, audio deltas) are drawn as
thin ticks, every other event as a labelled marker. matplotlib runs on the Agg backend, so no
display is needed.
usage: python -m tools.timeline --out T.png [--session S.jsonl] [--states STATES.json]
       [--speaker SPEAKER.wav] [--offset SECONDS] [--title TEXT]
STATES.json: a list of [t, "STATE"] pairs (or {"t":…, "state":…} objects), in time order.
"""

import argparse
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tools.session.format import event_type, read_session  # noqa: E402

_AUDIO = ("input_audio_buffer.append", "conversation.audio.delta", "response.audio.delta")
_COLORS = ("#cfe2f3", "#d9ead3", "#fff2cc", "#f4cccc", "#d9d2e9", "#fce5cd", "#d0e0e3",
           "#ead1dc", "#e6e6e6")


def _normalise_states(states):
    out = []
    for item in states or ():
        if isinstance(item, dict):
            out.append((float(item["t"]), str(item.get("state") or item.get("name"))))
        else:
            out.append((float(item[0]), str(item[1])))
    return out


def _events(session, offset):
    up, down, marks = [], [], []
    for rec in session.records if session is not None else ():
        t = rec["t"] + offset
        if "up" in rec or "down" in rec:
            kind = "up" if "up" in rec else "down"
            (up if kind == "up" else down).append((t, event_type(rec[kind])))
        elif "button" in rec:
            marks.append((t, "button " + rec["button"]))
        elif "close" in rec:
            marks.append((t, "close by %s (%s)" % (rec["close"].get("by"),
                                                   rec["close"].get("code"))))
    return up, down, marks


def _envelope(samples, rate, width=4000):
    """(times, min, max) with at most `width` columns, so long WAVs plot fast and faithfully."""
    n = len(samples)
    if n == 0:
        return np.zeros(1), np.zeros(1), np.zeros(1)
    step = max(1, n // width)
    cols = n // step
    block = samples[:cols * step].reshape(cols, step).astype(np.float32) / 32768.0
    t = (np.arange(cols) * step + step / 2) / rate
    return t, block.min(axis=1), block.max(axis=1)


def draw(out_png, session=None, states=None, speaker_wav=None, speaker=None,
         session_offset=0.0, end=None, title=None):
    """Render the timeline to `out_png`. `speaker` may be (int16 samples, rate) instead of a
    WAV path. Returns the time span drawn."""
    if isinstance(session, str):
        session = read_session(session)
    states = _normalise_states(states)
    if speaker is None and speaker_wav:
        from tools.cloud.audio import read_wav

        speaker = read_wav(speaker_wav)
    up, down, marks = _events(session, session_offset)
    times = [t for t, _ in up + down + marks + states]
    if speaker is not None and speaker[1]:
        times.append(len(speaker[0]) / speaker[1])
    span = end if end is not None else (max(times) if times else 1.0) * 1.02 + 0.05
    fig, (ax_s, ax_e, ax_w) = plt.subplots(3, 1, sharex=True, figsize=(14, 7),
                                           gridspec_kw={"height_ratios": [1, 2.2, 2]})
    _draw_states(ax_s, states, span)
    _draw_events(ax_e, up, down, marks, span)
    _draw_wave(ax_w, speaker, marks)
    ax_w.set_xlim(0, span)
    ax_w.set_xlabel("time (s)")
    fig.suptitle(title or (session.header.get("description") if session is not None else "")
                 or "session timeline")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return span


def _draw_states(ax, states, span):
    colors = {}
    for i, (t, name) in enumerate(states):
        t_end = states[i + 1][0] if i + 1 < len(states) else span
        color = colors.setdefault(name, _COLORS[len(colors) % len(_COLORS)])
        ax.axvspan(t, t_end, color=color, ec="#888888", lw=0.5)
        ax.text((t + t_end) / 2, 0.5, name, ha="center", va="center", fontsize=7,
                clip_on=True)
    ax.set_yticks([])
    ax.set_ylabel("state", rotation=0, ha="right", va="center")


def _draw_events(ax, up, down, marks, span):
    gap = span / 45.0  # a label needs this much room on its level before the next one
    for row, events in enumerate((down, up)):
        audio = [t for t, e in events if e in _AUDIO]
        if audio:
            ax.vlines(audio, row - 0.35, row - 0.05, color="#999999", lw=0.6)
        other = [(t, e) for t, e in events if e not in _AUDIO]
        if other:
            ax.plot([t for t, _ in other], [row] * len(other), "v" if row else "^",
                    color="#0b5394" if row else "#cc0000", ms=5, ls="none")
        levels = [-1e9] * 5
        for t, e in _collapse(other):
            free = [i for i, last in enumerate(levels) if t - last >= gap]
            if not free:
                continue  # the marker is drawn; its label would only overprint others
            levels[free[0]] = t
            short = e.replace("conversation.", "").replace("input_audio_buffer.", "buf.")
            ax.text(t, row + 0.06 + 0.16 * free[0], short, fontsize=6, va="bottom",
                    clip_on=True)
    for t, what in marks:
        ax.axvline(t, color="#38761d" if what.startswith("button") else "#990000",
                   lw=0.8, ls="--")
        ax.text(t, 1.85, what, fontsize=6, va="top", rotation=90, clip_on=True)
    ax.set_yticks([0, 1])
    ax.set_yticklabels(["downlink", "uplink"])
    ax.set_ylim(-0.5, 1.9)


def _collapse(events):
    """Runs of one event type become one label "type x N" at the run's start."""
    out = []
    for t, e in events:
        if out and out[-1][1] == e:
            out[-1][2] += 1
        else:
            out.append([t, e, 1])
    return [(t, e if n == 1 else "%s x%d" % (e, n)) for t, e, n in out]


def _draw_wave(ax, speaker, marks):
    if speaker is not None:
        t, lo, hi = _envelope(np.asarray(speaker[0]), speaker[1])
        ax.fill_between(t, lo, hi, color="#1155cc", lw=0)
    for t, what in marks:
        ax.axvline(t, color="#38761d" if what.startswith("button") else "#990000",
                   lw=0.8, ls="--")
    ax.set_ylim(-1, 1)
    ax.set_ylabel("speaker")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.timeline", description=__doc__.split(
        "\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--session")
    ap.add_argument("--states")
    ap.add_argument("--speaker")
    ap.add_argument("--offset", type=float, default=0.0)
    ap.add_argument("--title")
    args = ap.parse_args(argv)
    states = None
    if args.states:
        with open(args.states, encoding="utf-8") as f:
            states = json.load(f)
    draw(args.out, args.session, states, args.speaker, session_offset=args.offset,
         title=args.title)
    print("timeline: %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
