"""Session format v1: one JSON Lines file, a header line then time-ordered records.

Records: {"t", "up": msg} | {"t", "down": msg} | {"t", "button": "press"|"release"}
| {"t", "mic": base64 PCM16, "rate": hz} | {"t", "close": {"by", "code", "reason"}}.
Readers ignore keys they do not know. Writers redact every token-looking value: the format
promises that a token never appears in a recording, so the writer enforces it on every line,
not only in the header.
"""

import json
import re

FORMAT = "voice-session"
VERSION = 1
REDACTED = "<redacted>"
CLOUDS = ("coze.chat", "coze.transcriptions", "coze.speech", "qwen.omni")
RECORD_KINDS = ("up", "down", "button", "mic", "close")

# Coze personal / service tokens (pat_, sat_), DashScope keys (sk-), and any "Bearer x".
_TOKEN_RE = re.compile(r"\b(?:pat|sat)_[A-Za-z0-9]{6,}|\bsk-[A-Za-z0-9]{8,}")
_BEARER_RE = re.compile(r"(Bearer(?:\s|%20|\+)+)[^\s\"'&,;]+", re.IGNORECASE)
_SECRET_KEYS = ("token", "authorization", "api_key", "apikey", "access_token", "key", "secret")


class SessionError(ValueError):
    """A session file that is not format v1, with the line that is wrong."""


def redact_text(text, secrets=()):
    """`text` with known secrets, token-shaped words and Bearer credentials replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _BEARER_RE.sub(lambda m: m.group(1) + REDACTED, text)
    return _TOKEN_RE.sub(REDACTED, text)


def redact_value(value, secrets=()):
    """A deep copy of a JSON value with secrets redacted; values under secret-named keys go."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if str(key).lower() in _SECRET_KEYS and isinstance(item, str) and item:
                out[key] = REDACTED
            else:
                out[key] = redact_value(item, secrets)
        return out
    if isinstance(value, list):
        return [redact_value(item, secrets) for item in value]
    if isinstance(value, str):
        return redact_text(value, secrets)
    return value


class Session:
    """A header dict plus a list of record dicts (each has "t" and one kind key)."""

    def __init__(self, header=None, records=None):
        self.header = {"format": FORMAT, "version": VERSION}
        self.header.update(header or {})
        self.records = list(records or [])

    @property
    def cloud(self):
        return self.header.get("cloud", "coze.chat")

    @property
    def mode(self):
        return self.header.get("mode")

    def add(self, t, kind, value, **extra):
        if kind not in RECORD_KINDS:
            raise SessionError("unknown record kind %r" % kind)
        rec = {"t": round(float(t), 4), kind: value}
        rec.update(extra)
        self.records.append(rec)
        return rec

    def of_kind(self, kind):
        return [r for r in self.records if kind in r]

    def ups(self):
        return [r["up"] for r in self.records if "up" in r]

    def downs(self):
        return [r["down"] for r in self.records if "down" in r]

    def event_types(self, kind):
        """Event types of the up or down messages, in order (Coze event_type, Qwen type)."""
        return [event_type(m) for m in (self.ups() if kind == "up" else self.downs())]


def event_type(message):
    return message.get("event_type") or message.get("type") or "?"


def record_kind(record):
    for kind in RECORD_KINDS:
        if kind in record:
            return kind
    return None


def read_session(path_or_lines):
    """Parse a v1 session from a path or an iterable of lines; raises SessionError."""
    if isinstance(path_or_lines, str):
        with open(path_or_lines, encoding="utf-8") as f:
            lines = f.read().splitlines()
        where = path_or_lines
    else:
        lines = list(path_or_lines)
        where = "<lines>"
    lines = [(n + 1, line) for n, line in enumerate(lines) if line.strip()]
    if not lines:
        raise SessionError("%s: empty file, expected a voice-session header line" % where)
    header = _json_line(where, *lines[0])
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise SessionError(
            "%s:1: not a voice-session v1 header (format=%r version=%r)"
            % (where, header.get("format"), header.get("version"))
        )
    records = []
    last_t = 0.0
    for lineno, line in lines[1:]:
        rec = _json_line(where, lineno, line)
        if not isinstance(rec.get("t"), (int, float)):
            raise SessionError("%s:%d: record without a numeric 't'" % (where, lineno))
        if rec["t"] + 1e-6 < last_t:
            raise SessionError(
                "%s:%d: time goes backwards (%.3f after %.3f)" % (where, lineno, rec["t"], last_t)
            )
        last_t = rec["t"]
        if record_kind(rec) is None:
            continue  # a kind from a later version: readers ignore what they do not know
        records.append(rec)
    return Session(header, records)


def _json_line(where, lineno, line):
    try:
        value = json.loads(line)
    except ValueError as e:
        raise SessionError("%s:%d: not JSON (%s)" % (where, lineno, e)) from None
    if not isinstance(value, dict):
        raise SessionError("%s:%d: expected a JSON object" % (where, lineno))
    return value


def dump_lines(session, secrets=()):
    """The session as JSONL lines (str), redacted."""
    out = [json.dumps(redact_value(session.header, secrets), ensure_ascii=False)]
    for rec in session.records:
        out.append(json.dumps(redact_value(rec, secrets), ensure_ascii=False))
    return out


def write_session(session, path, secrets=()):
    """Write `session` to `path` as v1 JSONL with every secret redacted."""
    with open(path, "w", encoding="utf-8") as f:
        for line in dump_lines(session, secrets):
            f.write(line + "\n")
