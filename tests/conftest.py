# Host test set-up: device code imports the way it does on the board (lib/ on sys.path, firmware/
# as the app root), with tools/hostcompat.py installing the MicroPython shims (and the host's
# `compat`) first.
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
for sub in ("lib", "firmware", ""):
    path = os.path.join(ROOT, sub)
    if path not in sys.path:
        sys.path.insert(0, path)

from tools import hostcompat  # noqa: E402,F401 - MicroPython shims, the host compat

# tests/mp/ holds MicroPython-tier modules; tools/mptest/run.mjs runs those, not pytest.
collect_ignore = ["mp"]


@pytest.fixture
def shared_fixtures():
    """Path of ../shared/fixtures; the test skips where the folder is absent."""
    path = os.path.join(SHARED, "fixtures")
    if not os.path.isdir(path):
        pytest.skip("../shared/fixtures is absent: this test reads the recorded coze-go captures")
    return path
