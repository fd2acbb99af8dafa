# The OTA client's pure parts under real MicroPython (WebAssembly: 32 bits like the ESP32; unix):
# the Ed25519 check against RFC 8032's vectors, its SHA-512, the manifest's line format and the
# header's decisions. The network, the flash and the switch run end to end in
# tests/test_ota_faults.py (the unix port and CPython against a local HTTPS server).
import hashlib
import time
from binascii import hexlify, unhexlify

from app.ota import Done, OtaError, ed25519, manifest

import mptest

# RFC 8032 7.1, tests 1-3: (public key, message, signature).
VECTORS = (
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
     "c6594a7c15e9716ed28dc027beceea1ec40a"),
)


def _vec(i):
    return [unhexlify(x) for x in VECTORS[i]]


def test_sha512_known_answers():
    # FIPS 180-2 appendix C: "abc", and the empty string.
    assert hexlify(ed25519.sha512(b"abc")).decode().startswith("ddaf35a193617aba")
    assert hexlify(ed25519.sha512(b"")).decode().endswith("f927da3e")
    # One block and two: lengths either side of the 111-byte padding boundary.
    for n in (111, 112, 200):
        assert len(ed25519.sha512(b"x" * n)) == 64


def test_rfc8032_vectors_verify():
    for i in range(len(VECTORS)):
        pub, msg, sig = _vec(i)
        assert ed25519.verify(pub, msg, sig), i


def test_any_change_fails():
    pub, msg, sig = _vec(2)
    for at in (0, 31, 32, 63):
        bad = bytearray(sig)
        bad[at] ^= 1
        assert not ed25519.verify(pub, msg, bytes(bad)), at
    assert not ed25519.verify(pub, b"\xaf\x83", sig)
    other, _, _ = _vec(1)
    assert not ed25519.verify(other, msg, sig)
    # Malformed: wrong lengths, s >= L, a key that is no point.
    assert not ed25519.verify(pub[:31], msg, sig)
    assert not ed25519.verify(pub, msg, sig[:63])
    assert not ed25519.verify(pub, msg, sig[:32] + b"\xff" * 32)
    assert not ed25519.verify(b"\xff" * 32, msg, sig)


def test_verify_time_is_reported():
    pub, msg, sig = _vec(1)
    start = time.ticks_ms()
    for _ in range(3):
        assert ed25519.verify(pub, msg, sig)
    ms = time.ticks_diff(time.ticks_ms(), start) / 3
    mptest.bench("ota_ed25519_verify_ms", round(ms, 1), "ms", None,
                 what="one Ed25519 verify (RFC 8032 test 2), pure Python; the "
                 "ESP32 is slower (see firmware/app/ota/ed25519.py)")


def test_manifest_lines_parse_one_element_each():
    assert manifest.element('["ed25519:ab",\n', True) == "ed25519:ab"
    assert manifest.element('{"ota": 1, "count": 2},\n') == {"ota": 1, "count": 2}
    assert manifest.element('["app/a.mpy", 3, "aa"],\n') == ["app/a.mpy", 3, "aa"]
    assert manifest.element('["lib/b.mpy", 4, "bb"]]\n') == ["lib/b.mpy", 4, "bb"]


def test_entries_that_leave_the_slot_are_refused():
    sha = "0" * 64
    assert manifest.check_entry(["app/a.mpy", 1, sha], ()) == ["app/a.mpy", 1, sha]
    for bad in (["/boot.py", 1, sha], ["../x.mpy", 1, sha], ["app/../../x", 1, sha],
                ["ota/ptr", 1, sha], ["main.py", 1, sha], ["app/a.mpy", -1, sha],
                ["app/a.mpy", 1, "00"], ["app\\a.mpy", 1, sha], "app/a.mpy", ["", 1, sha]):
        try:
            manifest.check_entry(bad, ("main.py",))
        except OtaError:
            continue
        raise AssertionError("accepted %r" % (bad,))


def _head(**kw):
    head = {"ota": 1, "version": "1.2.0", "board": "b1", "mpy": 0, "count": 3, "bytes": 10,
            "fixed": []}
    head.update(kw)
    return head


def _decision(head, cur=None):
    try:
        manifest.decide(head, {"board": "b1"}, cur or {"slot": "", "version": ""})
    except Done as exc:
        return "done: " + str(exc)
    except OtaError as exc:
        return "refused: " + str(exc)
    return "install"


def test_the_header_decides_what_to_do():
    assert _decision(_head()) == "install"
    ok = {"slot": "a", "version": "1.1.0", "state": "ok"}
    assert _decision(_head(), ok) == "install"
    assert _decision(_head(version="1.10.0"), {"slot": "a", "version": "1.9.0"}) == "install"
    assert _decision(_head(version="1.1.0"), ok) == "done: up to date (1.1.0)"
    assert _decision(_head(version="1.0.9"), ok).startswith("refused: the server offers 1.0.9,")
    bad = {"slot": "a", "version": "1.1.0", "bad": "1.2.0"}
    assert "was rolled back on this board" in _decision(_head(), bad)
    trial = {"slot": "a", "version": "1.1.0", "state": "trial"}
    assert "is on trial" in _decision(_head(), trial)
    assert "is for board 'b2'" in _decision(_head(board="b2"))
    assert "not a format-1 manifest" in _decision(_head(ota=2))
    assert "not dotted numbers" in _decision(_head(version="one"))
    assert "lists 0 files" in _decision(_head(count=0))
    mine = getattr(__import__("sys").implementation, "_mpy", 0)
    assert "mpy" in _decision(_head(mpy=(mine & 0xFF) + 1))
    assert "mpy" in _decision(_head(mpy=mine ^ (1 << 10) | (1 << 11)))
    assert _decision(_head(mpy=mine & 0xFF)) == "install"
    assert "another nowhere.py" in _decision(_head(fixed=[["nowhere.py", 1, "0" * 64]]))


class _Mem:
    def __init__(self):
        self.data = bytearray()

    def write(self, mv):
        self.data.extend(mv)

    def close(self):
        pass


def test_the_receiver_stops_after_the_header_when_there_is_nothing_to_do():
    text = ('["ed25519:' + "00" * 64 + '",\n' + '{"ota": 1, "version": "1.1.0"},\n'
            + '["app/a.mpy", 1, "' + "0" * 64 + '"]]\n').encode()
    seen = []

    def on_head(head):
        seen.append(head)
        raise Done("up to date")

    rx = manifest.Receiver("unused", on_head, lambda path, mode: _Mem())
    mv = memoryview(text)
    try:
        for at in range(0, len(text), 7):  # in pieces, as a socket delivers it
            rx.write(mv[at:at + 7])
    except Done:
        pass
    assert seen == [{"ota": 1, "version": "1.1.0"}]


def test_the_receiver_hashes_everything_after_the_first_line():
    rest = b'{"ota": 1, "version": "1.1.0"},\n["app/a.mpy", 1, "' + b"0" * 64 + b'"]]\n'
    text = b'["ed25519:' + b"00" * 64 + b'",\n' + rest
    mem = _Mem()
    rx = manifest.Receiver("unused", lambda head: None, lambda path, mode: mem)
    rx.write(memoryview(text))
    assert bytes(mem.data) == text
    assert rx._h.digest() == hashlib.sha256(rest).digest()
    try:
        rx.finish("00" * 32)
    except OtaError as exc:
        assert "signature does not match ota_key" in str(exc)
    else:
        raise AssertionError("a zero signature passed")
