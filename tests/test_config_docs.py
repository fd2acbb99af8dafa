"""README.md stays true to the code: wiring tables vs boards' PINS, config keys."""

import importlib
import os
import re

import config
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "README.md")


def doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def wiring(name):
    text = doc()
    start = text.index("`%s` (" % name)
    rows = {}
    for line in text[start:].split("\n\n", 2)[1].splitlines():
        m = re.match(r"\| `(\w+)` \| [^|]* \| (\d+|—) \|$", line)
        if m:
            rows[m.group(1)] = None if m.group(2) == "—" else int(m.group(2))
    return rows


@pytest.mark.parametrize("name", config.known_boards())
def test_wiring_table_matches_board_pins(name):
    try:
        module = importlib.import_module("boards." + name)
    except ImportError as exc:
        pytest.skip("boards.%s does not import on CPython: %s" % (name, exc))
    assert wiring(name) == module.PINS


def test_every_config_key_is_documented():
    text = doc()
    for key in config.DEFAULTS:
        assert "`%s`" % key in text, key


def test_every_coze_error_code_has_a_row():
    text = doc()
    for code in (4000, 4006, 4008, 4009, 4011, 4015, 4016, 4100, 4101, 4102, 4104, 5000):
        assert re.search(r"^\| %d[ |/]" % code, text, re.M) or "/ %d |" % code in text, code
