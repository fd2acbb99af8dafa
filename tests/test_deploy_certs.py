"""tools/certs/ca.pem: what deploy puts on the board for wss:// is what its README says it is."""

import datetime
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CERTS = os.path.join(ROOT, "tools", "certs")
x509 = pytest.importorskip("cryptography.x509")
hashes = pytest.importorskip("cryptography.hazmat.primitives.hashes")


def blocks(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", text,
                      re.S)


def bundle():
    with open(os.path.join(CERTS, "ca.pem")) as f:
        return blocks(f.read())


def test_every_root_is_documented_with_its_fingerprint_and_expiry():
    with open(os.path.join(CERTS, "README.md")) as f:
        readme = f.read()
    pems = bundle()
    assert len(pems) == 2
    for pem in pems:
        cert = x509.load_pem_x509_certificate(pem.encode())
        assert cert.subject == cert.issuer  # a self-signed root, not an intermediate
        fp = cert.fingerprint(hashes.SHA256()).hex().upper()
        assert ":".join(fp[i:i + 2] for i in range(0, len(fp), 2)) in readme
        assert cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S") in readme


def test_no_root_expires_within_a_year():
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    for pem in bundle():
        cert = x509.load_pem_x509_certificate(pem.encode())
        assert cert.not_valid_after_utc > soon, cert.subject.rfc4514_string()


def test_roots_are_byte_identical_to_the_pinned_certifi_store():
    certifi = pytest.importorskip("certifi")
    with open(certifi.where()) as f:
        store = set(blocks(f.read()))
    for pem in bundle():
        assert pem in store
