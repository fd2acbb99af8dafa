# Fills the staging slot with the new version, file by file from the verified manifest: a file
# the running tree already has with the same hash is copied on flash, any other is downloaded.
# Either way it streams through SHA-256 in fixed chunks into the slot (never a whole file in
# RAM) and its size and hash are checked before the next file starts. The slot gets the whole
# tree, not only what changed: a version runs from its own slot alone (see otaboot).
#
# Failures, each one line and the old version untouched: a size or hash that differs (not
# retried: the server's copy is wrong), a download cut or timed out (retried _TRIES times per
# file, then given up), a full flash (checked up front from statvfs, and any write that fails
# mid-file), a manifest whose file count disagrees with its header.
import asyncio
import hashlib

from micropython import const

from app.ota import Dropped, OtaError, slots
from app.ota.manifest import entries, hexdigest

_CHUNK = const(1024)
_TRIES = const(3)
_RETRY_MS = const(500)
_MARGIN = const(8192)  # flash left free past the new tree: crashes.txt, the pointer, config
_ENOSPC = const(28)


class Sink:
    """One file being written: hashed and counted as it streams; check() says if it matches."""

    def __init__(self, path, size, sha):
        self.path = path
        self.size = size
        self.sha = sha
        self.n = 0
        self.h = hashlib.sha256()
        self.f = slots.OPEN(path, "wb")

    def write(self, mv):
        self.n += len(mv)
        if self.n > self.size:
            raise OtaError("%s: the server sent more than the manifest's %d bytes: upload the "
                           "release again" % (self.path, self.size))
        self.h.update(mv)
        self.f.write(mv)

    def check(self):
        self.f.close()
        if self.n != self.size:
            return "got %d of its %d bytes (the server's copy is truncated)" % (self.n, self.size)
        got = hexdigest(self.h)
        if got != self.sha:
            return "SHA-256 %s... is not the manifest's %s... (the server's copy differs)" % (
                got[:12], self.sha[:12])
        return None

    def abort(self):
        try:
            self.f.close()
        except OSError:
            pass


def _full(path, exc):
    code = exc.args[0] if exc.args else None
    what = "no space left" if code == _ENOSPC else "error %s" % (code,)
    return OtaError("could not write %s (%s): the flash is full or failing; free space on the "
                    "board" % (path, what))


def _copy(src, dst, size, sha, mv):
    # True when `src` is the file the manifest wants (then it is now at dst as well).
    import os

    try:
        if os.stat(src)[6] != size:
            return False
        f = open(src, "rb")
    except OSError:
        return False
    sink = None
    try:
        sink = Sink(dst, size, sha)
        while True:
            n = f.readinto(mv)
            if not n:
                break
            sink.write(mv[:n])
        return sink.check() is None
    except BaseException as exc:
        if sink is not None:
            sink.abort()
        if isinstance(exc, OSError):
            raise _full(dst, exc) from None
        raise
    finally:
        f.close()


async def _download(client, path, dst, size, sha, log):
    for attempt in range(1, _TRIES + 1):
        try:
            sink = Sink(dst, size, sha)
        except OSError as exc:
            raise _full(dst, exc) from None
        try:
            await client.get(path, sink, size, exact=True)
        except Dropped as exc:
            sink.abort()
            if attempt == _TRIES:
                raise OtaError("gave up on %s after %d tries: %s" % (path, _TRIES, exc)) from None
            log.warn("ota", "%s; trying again (%d of %d)" % (exc, attempt + 1, _TRIES))
            await asyncio.sleep_ms(_RETRY_MS * attempt)
            continue
        except OSError as exc:
            sink.abort()
            raise _full(dst, exc) from None
        except BaseException:
            sink.abort()
            raise
        why = sink.check()
        if why is not None:
            raise OtaError("%s: %s; upload the release folder again" % (path, why))
        return


async def fill(client, head, slot, cur, log):
    """Stage every file of the manifest into `slot`; returns (downloaded, copied)."""
    top = slots.root(slot) + "/"
    here = slots.root(cur.get("slot"))
    here = here + "/" if here else ""
    free = slots.free_bytes()
    if free is not None and free < head["bytes"] + _MARGIN:
        raise OtaError("not enough flash for %s: it needs %d KB, %d KB are free; free space on "
                       "the board" % (
                           head["version"], (head["bytes"] + _MARGIN) // 1024, free // 1024))
    mv = memoryview(bytearray(_CHUNK))
    fetched = copied = count = total = 0
    for path, size, sha in entries(slots.NEW):
        count += 1
        total += size
        dst = top + path
        slots.makedirs(dst)
        if _copy(here + path, dst, size, sha, mv):
            copied += 1
            continue
        await _download(client, path, dst, size, sha, log)
        fetched += 1
        slots.step("file")
    if count != head["count"] or total != head["bytes"]:
        raise OtaError("the manifest lists %d files of %d bytes, its header says %d of %d: "
                       "rebuild it with make release" % (count, total, head["count"],
                                                          head["bytes"]))
    return fetched, copied
