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

# Modules whose tests must all run on one pytest-xdist worker: they share a module-scoped
# fixture that does the expensive part once (the fault-matrix subset), or one external resource
# (Chromium). xdist's own `--dist loadgroup` no longer groups under pytest 9.2 (its worker renames
# node ids through a private attribute pytest stopped reading), so the scheduler groups by path.
ONE_WORKER_MODULES = ("tests/test_fault_matrix.py", "tests/test_setup_browser.py")


def xdist_scope(nodeid):
    """The work unit a test is scheduled in: its module for ONE_WORKER_MODULES, else itself."""
    module = nodeid.split("::", 1)[0]
    return module if module in ONE_WORKER_MODULES else nodeid


# The modules with the longest tests or work units (15-40 s each on a quiet 2-core machine, from
# a run's --junitxml), scheduled first: the workers then finish together instead of one of them
# running a 40 s soak after the rest are done. The others keep their order.
LONGEST_FIRST = ("tests/test_soak_sim.py", "tests/test_setup_browser.py",
                 "tests/test_fault_matrix.py", "tests/test_soak_unix.py",
                 "tests/test_sim_stream.py", "tests/test_soak_heap.py", "tests/test_deploy_pty.py")


def pytest_collection_modifyitems(items):
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which would pick by --dist
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerModules(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return xdist_scope(nodeid)

    return OneWorkerModules(config, log)


@pytest.fixture
def shared_fixtures():
    """Path of ../shared/fixtures; the test skips where the folder is absent."""
    path = os.path.join(SHARED, "fixtures")
    if not os.path.isdir(path):
        pytest.skip("../shared/fixtures is absent: this test reads the recorded coze-go captures")
    return path
