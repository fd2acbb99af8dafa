"""The OTA fault table: a board offered an update over HTTPS, under both runtimes.

Each test boots a board's filesystem (tools/ota/rig.py: the base version 1.0.0 as `make deploy`
lays it out) with its own boot.py and main.py, in the MicroPython unix port (real sockets and
ssl) and in CPython (device code through tools/hostcompat.py), against a local HTTPS server
(tools/ota/serve.py, a CA made for the run) that can truncate, corrupt or drop what it serves.
After each fault the board boots again and must run one whole version, old or new: the code
that runs comes from one tree (the probe's marks and sys.path), that tree's files are exactly
its manifest's, and a line says what happened. No token or Wi-Fi password is ever printed.
"""

import json
import os
import shutil
import sys

import pytest

from tools.certs.testpki import make_pki
from tools.ota.rig import TOKEN, Rig
from tools.ota.serve import OtaServer

RUNTIMES = ("micropython", "cpython")
SECRETS = (TOKEN, "rig-wifi-secret-never-printed")
STEPS = ("file", "switch 1", "switch 2", "switch 3", "switch 4", "switch 5", "reset")

HAVE_MICROPYTHON = os.path.exists(os.path.join(os.path.dirname(sys.executable), "micropython"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("ota-pki")))


@pytest.fixture(scope="module")
def rigs(tmp_path_factory):
    return {rt: Rig(str(tmp_path_factory.mktemp("ota-" + rt)), rt) for rt in RUNTIMES}


class World:
    """One board, its server, and what to check after every boot."""

    def __init__(self, rig, pki, name, offer, **cfg):
        self.rig = rig
        self.srv = OtaServer(rig.release(offer), pki.server_context("good")).start()
        self.board = rig.board(name, self.srv.url(), cfg.pop("ca", pki.ca_pem), **cfg)

    def offer(self, name, key=None):
        self.srv.root = os.path.realpath(self.rig.release(name, key))

    def boot(self, **kw):
        boot = self.board.boot(**kw)
        for secret in SECRETS:
            assert secret not in boot.text
        return boot

    def fetched(self):
        got, self.srv.requests[:] = list(self.srv.requests), []
        return got

    def runs(self, boot, name, trial=None):
        """`boot` ran version `name`, whole: its code, its lib, its tree and nothing else
        (`trial`: it booted on trial, or not)."""
        assert boot.app is not None, boot.text
        assert boot.app["mark"] == name and boot.app["lib_mark"] == name, boot.text
        slot = None
        for s in ("a", "b"):
            if "ota/%s/app/" % s in boot.app["runner"].replace(os.sep, "/"):
                slot = s
        files = self.board.tree_files(slot)
        if slot is None:
            assert name == "1.0.0", boot.text
            want = {d: self._sha(p) for d, p in self.rig.staged("1.0.0").items()}
            for extra in ("config.json", "certs/ca.pem", "crashes.txt", "no_cloud"):
                files.pop(extra, None)
            assert "" in boot.app["path"]
        else:
            want = dict(self.rig.manifest(name))
            with open(self.board.file("ota/%s/manifest.json" % slot), "rb") as f:
                assert f.read() == self._manifest_bytes(name)
            files.pop("manifest.json")
            assert boot.app["path"][:2] == ["ota/" + slot, "ota/%s/lib" % slot], boot.app
            assert "" not in boot.app["path"] and "lib" not in boot.app["path"]
            if trial is not None:
                line = "app %s (slot %s, on trial)" % (name.split("-")[0], slot)
                assert boot.has(line) == trial, boot.text
        assert files == want, sorted(set(files) ^ set(want))
        return slot

    def _sha(self, path):
        from tools.release import sha256_file

        return sha256_file(path)

    def _manifest_bytes(self, name):
        with open(os.path.join(self.rig.release(name), "manifest.json"), "rb") as f:
            return f.read()

    def install(self, name):
        """Offer `name`, boot into it and confirm it (the first good cloud connection)."""
        self.offer(name)
        first = self.boot()
        assert first.reset and first.has("%s is ready" % name.split("-")[0]), first.text
        boot = self.boot()
        self.runs(boot, name, trial=True)
        assert boot.has("confirmed: it reached the cloud"), boot.text
        return boot

    def close(self):
        self.srv.stop()


@pytest.fixture(params=RUNTIMES)
def world(request, rigs, pki):
    if request.param == "micropython" and not HAVE_MICROPYTHON:
        pytest.skip("no micropython binary in the venv: run `make setup`")
    made = []

    def make(name, offer="1.1.0", **cfg):
        w = World(rigs[request.param], pki, name, offer, **cfg)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def test_update_fetches_only_changed_files_then_runs_whole_and_is_confirmed(world):
    w = world("happy")
    boot = w.boot()
    assert boot.reset and boot.has("1.1.0 is ready (3 files downloaded")
    r = w.rig
    assert sorted(w.fetched()) == sorted(["manifest.json", r.path("app/extra_1_1_0"),
                                          r.path("app/runner"), r.path("lib/websock/errors")])
    boot = w.boot()
    assert w.runs(boot, "1.1.0", trial=True) == "a"
    assert boot.has("app 1.1.0 (slot a, on trial)") and boot.has("1.1.0 confirmed")
    assert w.fetched() == ["manifest.json"]  # up to date: nothing else
    boot = w.boot()
    w.runs(boot, "1.1.0")
    assert boot.has("up to date (1.1.0)") and not boot.has("confirmed")
    # Two more: the other slot, then slot a again, where 1.1.0's extra file must not survive.
    w.install("1.2.0")
    assert json.loads(w.board.read("ota/good"))["slot"] == "b"
    boot = w.install("1.3.0")
    assert w.runs(boot, "1.3.0", trial=True) == "a"


@pytest.mark.parametrize("fault,line", [
    ("truncate", "bytes on the server, the manifest says"),
    ("corrupt", "is not the manifest's"),
])
def test_a_bad_file_on_the_server_keeps_the_old_version(world, fault, line):
    w = world("bad-" + fault)
    w.srv.faults[w.rig.path("app/runner")] = fault
    boot = w.boot()
    assert not boot.reset and boot.has(line) and boot.has("the base tree stays"), boot.text
    w.runs(boot, "1.0.0")
    assert not os.path.exists(w.board.file("ota/a")) and w.board.pointer() is None
    w.srv.faults.clear()
    w.boot()
    w.runs(w.boot(), "1.1.0", trial=True)


def test_a_bad_signature_is_refused_before_anything_is_written(world, tmp_path):
    w = world("badsig")
    # Signed with a key the board does not hold:
    w.offer("1.1.0", key="other")
    boot = w.boot()
    assert boot.has("signature does not match ota_key") and not boot.reset, boot.text
    assert w.fetched() == ["manifest.json"]
    w.runs(boot, "1.0.0")
    # The right key, but an entry changed after signing:
    forged = tmp_path / "forged"
    shutil.copytree(w.rig.release("1.1.0"), forged)
    text = (forged / "manifest.json").read_text().splitlines(True)
    text[3] = text[3].replace(text[3].split('"')[-2], "0" * 64)
    (forged / "manifest.json").write_text("".join(text))
    w.srv.root = str(forged)
    boot = w.boot()
    assert boot.has("signature does not match ota_key") and not boot.reset, boot.text
    w.runs(boot, "1.0.0")
    assert os.listdir(w.board.file("ota")) == []


def test_a_release_for_another_board_is_refused(world):
    w = world("other", offer="1.1.0-other")
    boot = w.boot()
    assert boot.has("the release is for board 'esp32_inmp441', this board is "
                    "'esp32s3_inmp441'"), boot.text
    assert w.fetched() == ["manifest.json"]
    w.runs(boot, "1.0.0")


def test_the_server_dropping_mid_file_every_time_gives_up(world):
    w = world("drop")
    w.srv.faults[w.rig.path("app/runner")] = "drop"
    boot = w.boot()
    assert boot.has("trying again (2 of 3)") and boot.has("trying again (3 of 3)")
    assert boot.has("gave up on %s after 3 tries" % w.rig.path("app/runner")), boot.text
    w.runs(boot, "1.0.0")
    assert not os.path.exists(w.board.file("ota/a"))


def test_the_server_dropping_once_is_retried(world):
    w = world("drop-once")
    w.srv.faults[w.rig.path("app/runner")] = "drop-once"
    boot = w.boot()
    assert boot.has("trying again (2 of 3)") and boot.reset, boot.text
    w.runs(w.boot(), "1.1.0", trial=True)


def test_not_enough_flash_is_refused_up_front(world):
    w = world("nospace")
    boot = w.boot(free_bytes=4096)
    assert boot.has("not enough flash for 1.1.0"), boot.text
    assert w.fetched() == ["manifest.json"]
    w.runs(boot, "1.0.0")


def test_the_disk_filling_up_mid_update_keeps_the_old_version(world):
    w = world("diskfull")
    boot = w.boot(disk_bytes=60000)  # the tree is ~140 KB (mpy) / ~350 KB (py)
    assert boot.has("the flash is full or failing") and not boot.reset, boot.text
    w.runs(boot, "1.0.0")
    assert not os.path.exists(w.board.file("ota/a")), "the staging slot's space is not back"


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_every_step_boots_a_whole_version(world, step):
    w = world("kill-" + step.replace(" ", ""))
    boot = w.boot(kill=step)
    assert boot.killed and boot.has("@@AT " + step), boot.text
    w.srv.faults["manifest.json"] = "status:503"  # no second try yet: see what boots
    boot = w.boot()
    committed = step in ("switch 5", "reset")
    if committed:
        w.runs(boot, "1.1.0", trial=True)
        assert boot.has("app 1.1.0 (slot a, on trial)") and not boot.has("did not finish")
    else:
        w.runs(boot, "1.0.0")
        assert boot.has("the update to 1.1.0 did not finish (the board restarted during it): "
                        "the base tree (make deploy) runs"), boot.text
    w.srv.faults.clear()
    boot = w.boot()
    if not committed:
        assert boot.reset, boot.text  # tried again, from the start
        boot = w.boot()
        assert boot.has("1.1.0 confirmed")
    w.runs(boot, "1.1.0", trial=not committed)


@pytest.mark.parametrize("version,line", [
    ("1.1.0-crash", "the app crashed (3 in a row)"),
    ("1.1.0-noimport", "importing the app crashed (3 in a row)"),
])
def test_a_crash_looping_version_is_rolled_back_and_reported_once(world, version, line):
    w = world("crash-" + version, offer=version)
    assert w.boot().reset
    boots = [w.boot() for _ in range(4)]
    assert boots[2].has(line), boots[2].text
    assert boots[3].has("rolled back from 1.1.0 to the base tree (make deploy): it crashed 3 "
                        "times in a row") and boots[3].reset, boots[3].text
    boot = w.boot()
    w.runs(boot, "1.0.0")
    assert boot.has("1.1.0 was rolled back on this board; waiting for a newer release")
    assert boot.has("W ota    rolled back from 1.1.0"), "not reported on the good connection"
    boot = w.boot()
    assert not boot.has("rolled back from"), "reported twice"
    w.runs(boot, "1.0.0")
    w.install("1.2.0")  # a newer version is installed again


def test_a_version_whose_update_check_fails_is_rolled_back(world):
    w = world("badota", offer="1.1.0-badota")
    assert w.boot().reset
    boot = w.boot()
    assert boot.has("the update check failed") and boot.reset, boot.text
    assert boot.has("its update check failed")
    w.runs(w.boot(), "1.0.0")


def test_a_version_that_never_reaches_the_cloud_is_rolled_back(world):
    w = world("nocloud")
    open(w.board.file("no_cloud"), "w").close()
    assert w.boot().reset
    for _ in range(5):
        boot = w.boot()
        w.runs(boot, "1.1.0", trial=True)
        assert not boot.cloud
    boot = w.boot()
    assert boot.has("rolled back from 1.1.0 to the base tree (make deploy): it booted 5 times "
                    "without reaching the cloud"), boot.text
    w.runs(boot, "1.0.0")


def test_a_broken_pointer_falls_back_to_the_last_good_version(world):
    w = world("pointer")
    w.install("1.1.0")
    w.boot()  # confirmed: ota/good names slot a
    for junk in ('{"slot": "a", "vers', "", '{"slot": "b", "version": "9.9.9", "state": "ok"}'):
        with open(w.board.file("ota/ptr"), "w") as f:
            f.write(junk)
        boot = w.boot()
        assert boot.has("ota/ptr is unreadable or names an unfinished slot: the last good "
                        "version runs"), boot.text
        assert w.runs(boot, "1.1.0") == "a"
    os.remove(w.board.file("ota/good"))
    with open(w.board.file("ota/ptr"), "w") as f:
        f.write("{")
    w.srv.faults["manifest.json"] = "status:503"  # or it installs 1.1.0 again at once
    w.runs(w.boot(), "1.0.0")


def test_an_older_version_is_refused(world):
    w = world("older", offer="1.2.0")
    w.install("1.2.0")
    w.offer("1.1.0")
    boot = w.boot()
    assert boot.has("the server offers 1.1.0, older than the running 1.2.0: refused"), boot.text
    w.runs(boot, "1.2.0")


def test_a_server_the_ca_does_not_sign_is_one_line_and_the_app_starts(world, pki):
    w = world("wrongca", ca=pki.other_ca_pem)
    boot = w.boot()
    assert boot.has("certificate is not signed by a trusted CA; fix ca_file"), boot.text
    w.runs(boot, "1.0.0")
