"""`make release`: a signed over-the-air release of the app, a folder any static HTTPS host serves.

usage: python tools/release.py --version 1.2.0 [--board B] [--config config.json] [--src]
                               [--key ota-signing.key] [--out out/release] [--arch xtensawin]

1. Stage the board's tree exactly as `make deploy` does (tools/deploy.py stage(): .mpy from
   mpy-cross, or .py with --src), then leave out what a release never carries: the boot layer
   (boot.py, main.py, otaboot: the code that chooses and rolls back versions is never updated
   over the air; the manifest pins their hashes instead, so a board with other boot files
   refuses the release), config.json (the board's own, with its secrets) and the CA bundle
   (what the update itself is checked with).
2. Write out/release/<version>/: every file at its board path, and manifest.json (format in
   firmware/app/ota/manifest.py): version, board, the .mpy ABI, every file with its size and
   SHA-256, signed with Ed25519 by the key `make configure` made (ota-signing.key, next to
   config.json; the board holds its public half as ota_key).
3. Publish: copy the folder's contents to the URL in the board's ota_url, manifest.json last
   (a board that reads the new manifest before the files are there fails on a hash, keeps its
   version and tries again at the next boot).

Why Ed25519 rather than an HMAC: see firmware/app/ota/ed25519.py (the board keeps only a public
key; one board's flash read out signs nothing).
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tools import deploy  # noqa: E402,I001 - first: puts firmware/ and lib/ on sys.path
import config  # noqa: E402,I001 - firmware/config.py

KEY_FILE = "ota-signing.key"
TAG = b"voice-ota/1\n"  # firmware/app/ota/manifest.py's TAG
FORMAT = 1
# Never in a release: the boot layer (pinned in "fixed" instead), and the board's own files.
FIXED = ("boot.py", "main.py", "otaboot.py", "otaboot.mpy")
NOT_RELEASED = ("config.json", deploy.CA_DEST)


class ReleaseError(Exception):
    pass


# ---- the signing key ---------------------------------------------------------------------------

def ensure_key(path):
    """Make an Ed25519 signing key at `path` (PEM, mode 600) unless one is there; True if made."""
    if os.path.exists(path):
        load_key(path)
        return False
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return True


def load_key(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
    except FileNotFoundError:
        raise ReleaseError("no signing key at %s: run `make configure` (it makes one)"
                           % path) from None
    except (ValueError, TypeError):
        raise ReleaseError("%s is not an unencrypted PEM private key: restore it from your "
                           "backup" % path) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseError("%s is not an Ed25519 key" % path)
    return key


def public_hex(path):
    from cryptography.hazmat.primitives import serialization

    raw = load_key(path).public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw)
    return raw.hex()


# ---- the manifest ------------------------------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            h.update(block)
    return h.hexdigest()


def _entry(dest, path):
    return [dest, os.path.getsize(path), sha256_file(path)]


def mpy_abi(paths):
    """sys.implementation._mpy the files need: 0 for .py only; the version for bytecode; all of
    version, sub-version and arch when any file holds native (viper) code."""
    abi = 0
    for path in paths:
        if not path.endswith(".mpy"):
            continue
        with open(path, "rb") as f:
            head = f.read(4)
        if len(head) < 4 or head[:1] != b"M":
            raise ReleaseError("%s is not a .mpy file" % path)
        flags = head[2]
        this = head[1] | (flags & 3) << 8 | (flags >> 2) << 10 if flags >> 2 else head[1]
        if abi and (abi & 0xFF) != (this & 0xFF):
            raise ReleaseError("mixed .mpy versions in one release")
        abi = max(abi, this)
    return abi


def manifest_text(version, board, files, fixed, key):
    """manifest.json: one element per line; the first line signs the rest."""
    entries = [_entry(d, files[d]) for d in sorted(files)]
    head = {"ota": FORMAT, "version": version, "board": board, "mpy": mpy_abi(files.values()),
            "count": len(entries), "bytes": sum(e[1] for e in entries),
            "fixed": [_entry(d, fixed[d]) for d in sorted(fixed)]}
    lines = [json.dumps(head, sort_keys=True)] + [json.dumps(e) for e in entries]
    rest = "".join(line + (",\n" if i < len(lines) - 1 else "]\n")
                   for i, line in enumerate(lines))
    digest = hashlib.sha256(rest.encode()).digest()
    sig = key.sign(TAG + digest).hex()
    return '["ed25519:%s",\n' % sig + rest


def check_version(version):
    parts = version.split(".")
    if not version or not all(p.isdigit() for p in parts):
        raise ReleaseError("--version %r: use dotted numbers, e.g. 1.2.0 (boards install only a "
                           "higher one)" % version)


def build(files, version, board, key, out):
    """Write the release folder `out` from staged `files` {board path: local file}."""
    check_version(version)
    fixed = {d: p for d, p in files.items() if d in FIXED}
    app = {d: p for d, p in files.items() if d not in FIXED and d not in NOT_RELEASED}
    if not any(d.startswith("app/") for d in app):
        raise ReleaseError("the staged tree has no app/: nothing to release")
    text = manifest_text(version, board, app, fixed, key)
    if os.path.isdir(out):
        shutil.rmtree(out)
    for dest, path in app.items():
        target = os.path.join(out, dest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(path, target)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        f.write(text)
    return os.path.join(out, "manifest.json")


def release(root, version, board, key_path, out_dir, src=False, arch="xtensawin"):
    check_version(version)
    key = load_key(key_path)
    with tempfile.TemporaryDirectory(prefix="release-stage-") as tmp:
        files = deploy.stage(root, os.path.join(tmp, "tree"), src, arch, None, None)
        out = os.path.join(out_dir, version)
        build(files, version, board, key, out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="dotted numbers, higher than the last")
    parser.add_argument("--board", help="the board it is for [config.json's board]")
    parser.add_argument("--config", default="config.json", help="read for the board")
    parser.add_argument("--key", help="signing key [ota-signing.key next to --config]")
    parser.add_argument("--out", default=os.path.join(ROOT, "out", "release"))
    parser.add_argument("--src", action="store_true", help=".py instead of .mpy (deploy-src)")
    parser.add_argument("--arch", default="xtensawin", help="mpy-cross -march [%(default)s]")
    parser.add_argument("--root", default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    key_path = args.key or os.path.join(os.path.dirname(os.path.abspath(args.config)), KEY_FILE)
    try:
        board = args.board
        if not board:
            cfg = deploy.check_config(args.config, None)
            if cfg is None:
                raise ReleaseError("no --board and no %s: give BOARD=... or run `make "
                                   "configure`" % args.config)
            board = cfg["board"]
        if board not in config.known_boards():
            raise ReleaseError("unknown board %r: one of %s" % (board,
                               ", ".join(config.known_boards())))
        out = release(args.root, args.version, board, key_path, args.out, args.src, args.arch)
    except (ReleaseError, deploy.DeployError, config.ConfigError) as exc:
        print("release: %s" % exc, file=sys.stderr)
        return 2
    with open(os.path.join(out, "manifest.json")) as f:
        head = json.loads(f.read())[1]
    print("release: %s for %s: %d files, %d bytes, signed with %s" % (
        args.version, board, head["count"], head["bytes"], key_path))
    print("  %s" % out)
    print("publish: copy the folder's contents to the board's ota_url (manifest.json last)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
