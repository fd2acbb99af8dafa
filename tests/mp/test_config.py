# firmware/config.py under real MicroPython: the same bad-config corpus as tests/test_config.py
# gives the same one line per file, defaults fill, and secrets never reach a message.
# (MicroPython's json accepts a trailing or missing comma, so the corpus's broken-JSON cases are
# single quotes and an unclosed brace, which both interpreters reject.)
import json
import os

import config

import mptest

BAD = mptest.path("/tests/data/bad_configs")
GOOD = mptest.path("/tests/data/good_config.json")


def _good():
    with open(GOOD) as f:
        return json.load(f)


def _match(pattern, text):
    # '*' = any run of characters (MicroPython has no fnmatch).
    parts = pattern.split("*")
    if not text.startswith(parts[0]):
        return False
    pos = len(parts[0])
    for part in parts[1:-1]:
        found = text.find(part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    if len(parts) == 1:
        return pos == len(text)
    return text[pos:].endswith(parts[-1])


def test_corpus_lines_under_micropython():
    secrets = (_good()["token"], _good()["wifi_password"])
    names = sorted(n[:-5] for n in os.listdir(BAD) if n.endswith(".json"))
    assert len(names) >= 30, names
    for name in names:
        with open(BAD + "/" + name + ".txt") as f:
            expected = f.read().strip()
        try:
            config.load(BAD + "/" + name + ".json")
        except config.ConfigError as exc:
            line = str(exc)
        else:
            raise AssertionError(name + ": no ConfigError")
        assert "\n" not in line, line
        assert _match(expected, line), name + ": " + line
        for secret in secrets:
            assert secret not in line, name


def test_defaults_and_redaction():
    cfg = config.validate(_good())
    assert cfg["base_url"] == "wss://ws.coze.cn"
    assert cfg["in_rate"] == 16000 and cfg["long_press_ms"] == 3000
    safe = config.redacted(cfg)
    assert safe["token"] == "<redacted>" and safe["wifi_password"] == "<redacted>"
    assert cfg["token"] == _good()["token"]


def test_missing_file():
    try:
        config.load("/no/such/config.json")
    except config.ConfigError as exc:
        assert "make configure" in str(exc)
    else:
        raise AssertionError("no ConfigError")


def test_g711_rates_fill_8000():
    cfg = config.validate(dict(_good(), codec="g711a"))
    assert cfg["out_rate"] == 8000
