"""Convert a coze-go two-line capture (`send` / `receive`, then one JSON line) to format v1.

Times come from `detail.respond_at` (the server's clock, ms) relative to the first downlink
message; the captures carry no time for what the client sent, so an up record takes the time of
the record before it (the SDK sends as soon as it can). Times never go backwards.

One reordering: the captures log the client's first send before `chat.created` (the SDK sent
without waiting), but the server sends `*.created` on connect whatever the client does. It is
moved to t=0 ahead of the sends, so a device that waits for `chat.created` - as the hardware
guide tells it to - replays the capture without a deadlock.
usage: python -m tools.cloud.convert IN.txt OUT.jsonl
"""

import json
import sys

from tools.session.format import Session, event_type, write_session

_CREATED = {
    "chat.created": ("coze.chat", "/v1/chat"),
    "transcriptions.created": ("coze.transcriptions", "/v1/audio/transcriptions"),
    "speech.created": ("coze.speech", "/v1/audio/speech"),
    "session.created": ("qwen.omni", "/api-ws/v1/realtime"),
}


def parse_capture(text):
    """[(direction, message)] from the two-line form; raises ValueError naming the line."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        word = lines[i].strip()
        if not word:
            i += 1
            continue
        if word not in ("send", "receive") or i + 1 >= len(lines):
            raise ValueError("line %d: expected 'send' or 'receive' then a JSON line" % (i + 1))
        try:
            msg = json.loads(lines[i + 1])
        except ValueError as e:
            raise ValueError("line %d: not JSON (%s)" % (i + 2, e)) from None
        out.append(("up" if word == "send" else "down", msg))
        i += 2
    return out


def _respond_at(msg):
    detail = msg.get("detail")
    try:
        return int(detail["respond_at"])
    except (TypeError, KeyError, ValueError):
        return None


def convert(text, description=""):
    """A Session from capture text."""
    items = parse_capture(text)
    downs = [m for d, m in items if d == "down"]
    first = next((i for i, (d, _) in enumerate(items) if d == "down"), None)
    cloud, path = ("coze.chat", "/v1/chat")
    if first is not None and event_type(items[first][1]) in _CREATED:
        cloud, path = _CREATED[event_type(items[first][1])]
        items.insert(0, items.pop(first))
    base = next((r for r in map(_respond_at, downs) if r is not None), None)
    bot_id = next((m["data"]["bot_id"] for m in downs if isinstance(m.get("data"), dict)
                   and m["data"].get("bot_id") not in (None, "", "0")), None)
    header = {"cloud": cloud, "url_path": path, "query": {"bot_id": bot_id} if bot_id else {},
              "mode": _mode(items), "description": description or "converted coze-go capture",
              "source": "coze-go two-line capture"}
    session = Session(header)
    t = 0.0
    for direction, msg in items:
        at = _respond_at(msg) if direction == "down" else None
        if at is not None and base is not None:
            t = max(t, (at - base) / 1000.0)
        session.add(t, direction, msg)
    return session


def _mode(items):
    ups = [event_type(m) for d, m in items if d == "up"]
    if "input_audio_buffer.complete" in ups:
        return "ptt"
    if "input_audio_buffer.append" in ups:
        return "free"
    return "text"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m tools.cloud.convert IN.txt OUT.jsonl", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        session = convert(f.read(), "converted from %s" % argv[0].rsplit("/", 1)[-1])
    write_session(session, argv[1])
    print("%s: %d records -> %s" % (argv[0], len(session.records), argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
