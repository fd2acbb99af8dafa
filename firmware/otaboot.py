# The boot layer of over-the-air updates: which app version runs, and going back to the last one.
#
# Never updated over the air (tools/release.py leaves this file, boot.py and main.py out of every
# release and pins their hashes in it), so a broken release cannot break the code that undoes it.
# boot.py calls choose(); main.py calls roll_back() when its crash counter trips and at_boot()
# before the app starts; the app calls confirm() on its first good cloud connection, and only
# while `pending` is set (nothing of the OTA client is imported on the normal path).
#
# Versions: the tree `make deploy` copies is the base version, at the root. An update is a whole
# tree in ota/a or ota/b; its signed manifest.json, written last, is what makes a slot whole.
# ota/ptr names the version to run:
#   {"slot": "a"|"b"|"" (base), "version": "1.2.0", "state": "ok"|"trial", "boots": n,
#    "prev": slot to go back to, "prev_version", "bad": a version rolled back here, "note"}
# and ota/good is the last confirmed one. Both are written whole to a .tmp file and renamed over:
# atomic on LittleFS (the ESP32 default); on FAT the old file is removed first, so a missing ptr
# means "use good". A pointer that is missing, unreadable or names a slot without its manifest
# falls back to good, then to the base tree: the board always boots one whole version.
#
# Trial: a new version runs on trial until its first good cloud connection. It is rolled back
# when it crashes _MAX_CRASHES times in a row (main.py's counter), when its own update check
# raises or it rejects config.json, or when it has booted _MAX_TRIAL_BOOTS times unconfirmed
# (a hang that the watchdog resets, or a version that never reaches the cloud). The version is
# then remembered as bad, so the next check does not install it again, and why is printed at
# once and logged again on the next good connection.
import json
import os
import sys

PTR = "ota/ptr"
GOOD = "ota/good"
JOB = "ota/job"  # written when staging starts: an update that never switched is reported
CRASH_FILE = "crashes.txt"  # main.py's counter: a version rolled back to starts from zero
_MAX_TRIAL_BOOTS = 5

state = None  # the pointer being run; None when choose() did not run or failed
pending = False  # confirm() has work: a trial to confirm or a rollback to report


def _say(level, text):
    print("%s ota    %s" % (level, text))


def read(path):
    try:
        with open(path) as f:
            p = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return p if isinstance(p, dict) else None


def write(path, p):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(p))
    os.rename(tmp, path)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def root(slot):
    return "ota/" + slot if slot else ""


def whole(p):
    slot = p.get("slot") if p else None
    if slot == "":
        return True
    if slot not in ("a", "b"):
        return False
    try:
        os.stat(root(slot) + "/manifest.json")
        return True
    except OSError:
        return False


def describe(p):
    if not p.get("slot"):
        return "the base tree (make deploy)"
    return "%s (slot %s%s)" % (p.get("version"), p["slot"],
                               ", on trial" if p.get("state") == "trial" else "")


def choose():
    """At boot (boot.py): pick the version, count a trial boot, put its tree on sys.path."""
    global state, pending
    p = read(PTR)
    if not whole(p):
        try:
            os.stat(PTR)
            _say("W", "%s is unreadable or names an unfinished slot: the last good version runs"
                 % PTR)
        except OSError:
            pass
        p = read(GOOD)
        p = p if whole(p) else {"slot": ""}
    job = read(JOB)
    if job is not None:
        if job.get("version") != p.get("version"):
            _say("W", "the update to %s did not finish (the board restarted during it): %s runs"
                 "; the next check tries again" % (job.get("version"), describe(p)))
        _remove(JOB)
    if p.get("state") == "trial":
        p["boots"] = p.get("boots", 0) + 1
        if p["boots"] > _MAX_TRIAL_BOOTS:
            p = _back(p, "it booted %d times without reaching the cloud" % _MAX_TRIAL_BOOTS)
        else:
            _keep(PTR, p)
    state = p
    pending = p.get("state") == "trial" or bool(p.get("note"))
    if p["slot"]:
        # The slot's tree only: the base tree's '' and lib stay off the path, so a module the
        # new version dropped cannot be imported from the old one (never a mix).
        r = root(p["slot"])
        sys.path[:] = [r, r + "/lib"] + [x for x in sys.path if x not in ("", "lib", "/lib")]
    _say("I", "app %s" % describe(p))
    return p


def _keep(path, p):
    # Best effort: a full or failing flash must not stop the boot.
    try:
        write(path, p)
    except OSError as exc:
        _say("W", "could not write %s: %s" % (path, exc))


def _back(p, why):
    q = {"slot": p.get("prev") or "", "version": p.get("prev_version") or "", "state": "ok",
         "bad": p.get("version")}
    if not whole(q):
        q = {"slot": "", "version": "", "state": "ok", "bad": p.get("version")}
    note = "rolled back from %s to %s: %s" % (p.get("version"), describe(q), why)
    _say("W", note)
    _keep(GOOD, q)
    q["note"] = note
    _keep(PTR, q)
    _remove(CRASH_FILE)
    return q


def roll_back(why):
    """Go back to the previous version if the running one is on trial; True: reset now."""
    global state
    if state is None or state.get("state") != "trial":
        return False
    state = _back(state, why)
    return True


def at_boot():
    """main.py, before the app: the update check, when config.json sets ota_url. May reset.
    Then, unless confirm() has work, this module leaves sys.modules: its RAM goes to the app
    (boot.py and main.py keep no reference to it)."""
    if state is not None and _check():
        _reset()
    if not pending:
        sys.modules.pop("otaboot", None)


def _check():
    # True when the board must reset: a new version is ready, or this one was rolled back.
    try:
        import config

        cfg = config.load()
    except Exception as exc:  # noqa: BLE001 - the app says what to fix in config.json
        return roll_back("it rejects config.json: %s" % exc)
    if not cfg.get("ota_url"):
        return False
    try:
        from app.ota import check

        return check.run(cfg, state)
    except Exception as exc:  # noqa: BLE001 - a bug in the update client: never stop the boot
        _say("E", "the update check failed: %r; the app starts anyway" % (exc,))
        return roll_back("its update check failed: %r" % (exc,))
    finally:
        # The client is only needed now: give its heap back to the app.
        for name in list(sys.modules):
            if name.startswith("app.ota"):
                del sys.modules[name]
        import gc

        gc.collect()


def _reset():
    import machine

    machine.reset()


def confirm(log):
    """The app reached the cloud: a version on trial is now good; a rollback is reported once."""
    global state, pending
    pending = False
    if state is None:
        return
    p = dict(state)
    note = p.pop("note", None)
    if p.get("state") == "trial":
        p["state"] = "ok"
        p.pop("boots", None)
        _keep(GOOD, p)
        log.info("ota", "%s confirmed: it reached the cloud" % p.get("version"))
    if note:
        log.warn("ota", note)
    _keep(PTR, p)
    state = p
    sys.modules.pop("otaboot", None)  # done: the app gets this module's RAM back
