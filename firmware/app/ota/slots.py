# The flash side of an update: the staging slot, free space, and the switch to the new version
# in five numbered steps. The pointer format and the boot-time reader are otaboot's (the boot
# layer, never updated); this writes what otaboot reads.
#
# The switch, and what a board that restarts before step N boots (tests kill the device process
# at each one):
#   1 ota/new.json (the verified manifest) renamed to ota/<slot>/manifest.json: the slot is whole
#     (before: the old version; the slot has no manifest, so it never runs)
#   2 the new pointer written to ota/ptr.tmp      (before: the old version, whole slot unused)
#   3 crashes.txt removed: the new version's count starts at zero  (before: the old version)
#   4 ota/ptr.tmp renamed over ota/ptr: the commit (before: the old version, its crash count
#     reset, which loses nothing)
#   5 ota/job removed                             (before: the new version, on trial)
# then the reset (before: the new version, on trial). Each of 1 and 4 is one rename, atomic on
# LittleFS; on FAT a missing ptr in the middle of 4 falls back to ota/good (otaboot).
import json
import os

import otaboot

NEW = "ota/new.json"  # the manifest being received and checked, outside both slots
OPEN = open  # tests: a bounded filesystem (a disk that fills up)
FREE = None  # tests: the bytes free, instead of statvfs
HOOK = None  # tests: HOOK(name) before each step ("switch 1".."switch 5", "reset", "file")


def step(name):
    if HOOK is not None:
        HOOK(name)


def root(slot):
    return otaboot.root(slot)


def staging(cur):
    """The slot an update fills: never the running one (which is also the last good one, since
    a version on trial takes no update)."""
    return "b" if cur.get("slot") == "a" else "a"


def makedirs(path):
    # Every parent directory of the file `path`.
    at = path.find("/")
    while at > 0:
        try:
            os.mkdir(path[:at])
        except OSError:
            pass  # exists; a real failure shows when the file is opened
        at = path.find("/", at + 1)


def rmtree(path):
    try:
        names = os.listdir(path)
    except OSError:
        try:
            os.remove(path)
        except OSError:
            pass
        return
    for name in names:
        rmtree(path + "/" + name)
    try:
        os.rmdir(path)
    except OSError:
        pass


def free_bytes():
    if FREE is not None:
        return FREE
    try:
        st = os.statvfs("ota")
    except (OSError, AttributeError):
        return None
    return st[0] * st[4]  # f_bsize * f_bavail


def begin(slot, version):
    """Empty the staging slot and note the update in progress (otaboot reports one that a
    restart cut short)."""
    rmtree(root(slot))
    makedirs(root(slot) + "/")
    with OPEN(otaboot.JOB, "w") as f:
        f.write(json.dumps({"version": version, "slot": slot}))


def discard(slot):
    """An update that failed: the staging slot's space back, nothing pending."""
    if slot:
        rmtree(root(slot))
    for path in (NEW, otaboot.JOB):
        try:
            os.remove(path)
        except OSError:
            pass


def switch(slot, version, cur):
    """Make the staged slot the version to boot, on trial (steps 1-5 above); no reset."""
    new = {"slot": slot, "version": version, "state": "trial", "boots": 0,
           "prev": cur.get("slot") or "", "prev_version": cur.get("version") or ""}
    if cur.get("bad"):
        new["bad"] = cur["bad"]
    step("switch 1")
    os.rename(NEW, root(slot) + "/manifest.json")
    step("switch 2")
    with OPEN(otaboot.PTR + ".tmp", "w") as f:
        f.write(json.dumps(new))
    step("switch 3")
    try:
        os.remove(otaboot.CRASH_FILE)
    except OSError:
        pass
    step("switch 4")
    os.rename(otaboot.PTR + ".tmp", otaboot.PTR)
    step("switch 5")
    try:
        os.remove(otaboot.JOB)
    except OSError:
        pass
    step("reset")
