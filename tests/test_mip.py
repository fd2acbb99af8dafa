"""package.json, the mip manifest: `mpremote mip install github:<owner>/<repo>` gets all of lib/.

Fails when a committed lib/ file is missing from it (or it lists one that is gone): regenerate
it with `.venv/bin/python tools/deploy.py --package-json`. Committed, because GitHub serves
only what is committed; a file still being written is not expected in it.
"""

import json
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from tools import deploy  # noqa: E402

FIX = "regenerate with: .venv/bin/python tools/deploy.py --package-json"


def manifest():
    with open(os.path.join(ROOT, "package.json")) as f:
        return json.load(f)


def lib_files():
    # What `mip install github:...` can fetch: lib/ files committed to git.
    proc = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "lib"], capture_output=True)
    if proc.returncode != 0:
        pytest.skip("not a git checkout: cannot tell which lib/ files are published")
    return sorted(p[len("lib/"):] for p in proc.stdout.decode().split("\0") if p.endswith(".py"))


def test_every_lib_file_is_listed_and_nothing_else():
    listed = sorted(dest for dest, _ in manifest()["urls"])
    missing = sorted(set(lib_files()) - set(listed))
    extra = sorted(set(listed) - set(lib_files()))
    assert not missing, "package.json lacks %s; %s" % (missing, FIX)
    assert not extra, "package.json lists files that are gone: %s; %s" % (extra, FIX)


def test_sources_are_relative_and_match_destinations():
    # Relative sources resolve against package.json's own URL (mip and mpremote both do this),
    # so a fork installs from itself without editing the file.
    for dest, src in manifest()["urls"]:
        assert src == "lib/" + dest
        assert not src.startswith(("http:", "https:", "github:", "gitlab:", "/"))
        assert os.path.isfile(os.path.join(ROOT, src)), src


def test_shape_follows_the_mip_convention():
    pkg = manifest()
    assert set(pkg) == {"urls", "deps", "version"}
    assert isinstance(pkg["version"], str) and pkg["version"].count(".") == 2
    assert all(isinstance(d, list) and len(d) == 2 for d in pkg["deps"])
    assert pkg == deploy.package_json(ROOT, pkg["deps"]), FIX


def test_deploy_installs_the_same_deps():
    assert deploy.mip_packages() == [name for name, _ in manifest()["deps"]]
