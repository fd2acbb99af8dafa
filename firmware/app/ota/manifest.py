# The signed release manifest (tools/release.py writes it): what it says, whether this board may
# install it, and its signature, read as it streams in, never whole in RAM.
#
# manifest.json is one JSON array with one element per line, so the device reads it line by line
# with readline() while any JSON tool reads it whole:
#   ["ed25519:<128 hex: signature>",
#   {"ota": 1, "version": "1.2.0", "board": ..., "mpy": ..., "count": n, "bytes": b,
#    "fixed": [[path, size, sha256], ...]},
#   ["app/runner.mpy", 4210, "<sha256 hex>"],
#   ...
#   ["lib/websock/tls.mpy", 3411, "<sha256 hex>"]]
# The signature covers every byte after the first line, through its SHA-256:
# Ed25519(TAG + sha256(rest)); the tag keeps the key's signatures from meaning anything else.
# "mpy": the sys.implementation._mpy the .mpy files need (0: .py files, any runtime); "fixed":
# the boot layer the release was built against (boot.py, main.py, otaboot), which an update
# never replaces, so a release built for another one is refused.
#
# The first two lines are read before the rest arrives: a check with nothing to do (up to date,
# another board) stops there, after a few hundred bytes. Acting on them is safe without the
# signature because they can only stop an update; nothing is installed before it is checked.
import hashlib
import json
import os
import sys
from binascii import hexlify, unhexlify

from micropython import const

from app.ota import Done, OtaError

TAG = b"voice-ota/1\n"
MAX_BYTES = const(65536)  # the whole manifest: ~100 bytes a file, 650 files
_HEAD_MAX = const(2048)  # its first two lines
_MAX_FILES = const(650)
_FORMAT = const(1)


def element(line, first=False):
    """One array element from one manifest line (`first`: the line that opens the array)."""
    s = line.strip()
    if first:
        s = s[1:]
    if s[-1:] in (",", "]"):
        s = s[:-1]  # one separator, or the array's close on the last line
    return json.loads(s)


def hexdigest(h):
    return hexlify(h.digest()).decode()


def version(text):
    """(1, 2, 0) from "1.2.0"; () for the base tree, which any release replaces."""
    if not text:
        return ()
    try:
        return tuple(int(x) for x in text.split("."))
    except (ValueError, AttributeError):
        raise OtaError("version %r is not dotted numbers (1.2.0): rebuild with make release"
                       % (text,)) from None


def file_sha(path):
    try:
        f = open(path, "rb")
    except OSError:
        return None
    h = hashlib.sha256()
    buf = bytearray(512)
    try:
        while True:
            n = f.readinto(buf)
            if not n:
                return hexdigest(h)
            h.update(memoryview(buf)[:n])
    finally:
        f.close()


def decide(head, cfg, cur):
    """Raise Done when there is nothing to install, OtaError when this board must not."""
    if not isinstance(head, dict) or head.get("ota") != _FORMAT:
        raise OtaError("manifest.json is not a format-%d manifest: make release writes one; "
                       "check ota_url" % _FORMAT)
    new, have = head.get("version"), cur.get("version") or ""
    if not isinstance(new, str) or not new:
        raise OtaError("manifest.json names no version: rebuild it with make release")
    if version(new) == version(have):
        raise Done("up to date (%s)" % new)
    if version(new) < version(have):
        raise OtaError("the server offers %s, older than the running %s: refused (versions only "
                       "go forward); publish a newer version" % (new, have))
    if new == cur.get("bad"):
        raise Done("%s was rolled back on this board; waiting for a newer release" % new)
    if cur.get("state") == "trial":
        raise Done("%s is on trial: updates wait until it has reached the cloud" % have)
    if head.get("board") != cfg["board"]:
        raise OtaError("the release is for board %r, this board is %r (config.json): point "
                       "ota_url at this board's release folder"
                       % (head.get("board"), cfg["board"]))
    # sys.implementation._mpy: version | sub-version << 8 | arch << 10. Bytecode needs the
    # version only; native (viper) code needs all three.
    want = head.get("mpy") or 0
    mine = getattr(sys.implementation, "_mpy", 0)
    if want and ((want != mine) if want >> 10 else ((want ^ mine) & 0xFF)):
        raise OtaError("the release's .mpy files need mpy %d arch %d, this runtime is mpy %d "
                       "arch %d: build it with make release for this board"
                       % (want & 0xFF, want >> 10, mine & 0xFF, mine >> 10))
    for path, _size, sha in head.get("fixed") or ():
        if file_sha(path) != sha:
            raise OtaError("the release was built against another %s than this board's: update "
                           "the boot files over USB once (make deploy)" % path)
    if not 0 < head.get("count", 0) <= _MAX_FILES:
        raise OtaError("the manifest lists %r files (at most %d): rebuild with make release"
                       % (head.get("count"), _MAX_FILES))


def check_entry(e, fixed):
    # A signed manifest is trusted, but a path that leaves the slot would be a release tool bug
    # with consequences: refuse it.
    ok = isinstance(e, list) and len(e) == 3 and isinstance(e[0], str)
    if ok:
        path, size, sha = e
        ok = (isinstance(size, int) and size >= 0 and isinstance(sha, str) and len(sha) == 64
              and path and path[0] not in "/." and ".." not in path and "\\" not in path
              and not path.startswith("ota/") and path not in fixed)
    if not ok:
        raise OtaError("manifest entry %r is not a file of the app tree: rebuild with make "
                       "release" % (e,))
    return e


def entries(path):
    """The (path, size, sha256) of every file, read one line at a time from the saved copy."""
    with open(path) as f:
        f.readline()
        head = element(f.readline())
        fixed = [x[0] for x in head.get("fixed") or ()]
        while True:
            line = f.readline()
            if not line:
                return
            yield check_entry(element(line), fixed)


class Receiver:
    """The manifest as it arrives: saved to `path`, hashed after its first line, its first two
    lines handed to `on_head` (which raises Done or OtaError to stop) before the rest is read."""

    def __init__(self, path, on_head, opener):
        self._path = path
        self._on_head = on_head
        self._open = opener
        self._pre = bytearray()
        self._f = None
        self._h = hashlib.sha256()
        self.sig = None
        self.head = None

    def write(self, mv):
        if self._f is not None:
            self._h.update(mv)
            self._f.write(mv)
            return
        self._pre.extend(mv)
        pre = bytes(self._pre)
        first = pre.find(b"\n")
        second = pre.find(b"\n", first + 1) if first >= 0 else -1
        if second < 0:
            if len(pre) > _HEAD_MAX:
                raise OtaError("manifest.json does not start like one (no header in its first %d"
                               " bytes): check ota_url" % _HEAD_MAX)
            return
        try:
            self.sig = element(pre[:first].decode(), True)
            self.head = element(pre[first + 1 : second].decode())
        except (ValueError, UnicodeError):
            raise OtaError("manifest.json does not start like one: check ota_url") from None
        self._on_head(self.head)
        self._pre = None
        self._f = self._open(self._path, "wb")
        self._h.update(pre[first + 1 :])
        self._f.write(pre)

    def finish(self, key_hex):
        """Close the saved copy and check the signature with `key_hex` (config.json ota_key)."""
        if self._f is None:
            raise OtaError("manifest.json ended before its header: check ota_url")
        self._f.close()
        self._f = None
        from app.ota import ed25519

        sig = self.sig if isinstance(self.sig, str) else ""
        try:
            good = sig.startswith("ed25519:") and ed25519.verify(
                unhexlify(key_hex), TAG + self._h.digest(), unhexlify(sig[8:]))
        except ValueError:
            good = False
        if not good:
            raise OtaError("manifest.json's signature does not match ota_key: sign releases with"
                           " the key make configure made (make release), or configure and "
                           "deploy this board again")
        return self.head

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None
        try:
            os.remove(self._path)
        except OSError:
            pass
