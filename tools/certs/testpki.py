"""A throw-away PKI for wss:// tests, made at test time with the pinned `cryptography`.

    pki = make_pki(tmp_dir)            # writes PEM (and DER) files, returns a TestPKI
    pki.ca_pem                         # path: the CA a device trusts (its ca_file)
    pki.server("good")                 # (cert_path, key_path) for 127.0.0.1 / localhost
    pki.server_context("expired")      # a CPython ssl.SSLContext serving that certificate

Servers (all signed by the test CA unless said otherwise):
  good       SAN IP 127.0.0.1, DNS localhost; valid from yesterday for 30 days
  expired    same names; valid for a day that ended yesterday
  notyet     same names; valid from tomorrow (what a device whose clock is unset sees)
  wronghost  valid, but only for DNS wrong.example (no IP, not localhost)
  otherca    valid names and dates, signed by a second, unrelated CA ("wrong CA")
Plus ca.der and other_ca.pem / other_ca.der: MicroPython's unix port is built without mbedtls's
PEM parser, so its ssl takes DER `cadata` only (websock converts PEM itself when the port
refuses it). Keys are EC P-256: quick to make, and mbedtls on MicroPython and on the ESP32 both
speak ECDHE-ECDSA. Nothing here is meant to be committed: tests write into a temporary
directory.

usage: python -m tools.certs.testpki DIR      # write the set into DIR (for manual tries)
"""

import datetime
import ipaddress
import os
import sys

SERVERS = ("good", "expired", "notyet", "wronghost", "otherca")
_DAY = datetime.timedelta(days=1)


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name):
    from cryptography.x509 import Name, NameAttribute
    from cryptography.x509.oid import NameOID

    return Name([NameAttribute(NameOID.ORGANIZATION_NAME, "voice test PKI"),
                 NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(common_name, now):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _key()
    name = _name(common_name)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY).not_valid_after(now + 30 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return cert, key


def _leaf(ca_cert, ca_key, names, not_before, not_after):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _key()
    sans = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n)
            for n in names]
    cert = (x509.CertificateBuilder().subject_name(_name(names[0]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


class TestPKI:
    """Paths of one generated set; see the module docstring for what each server is."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, directory):
        self.dir = directory
        self.ca_pem = os.path.join(directory, "ca.pem")
        self.ca_der = os.path.join(directory, "ca.der")
        self.other_ca_pem = os.path.join(directory, "other_ca.pem")
        self.other_ca_der = os.path.join(directory, "other_ca.der")

    def server(self, which):
        if which not in SERVERS:
            raise ValueError("server %r: one of %s" % (which, ", ".join(SERVERS)))
        return (os.path.join(self.dir, which + ".crt"), os.path.join(self.dir, which + ".key"))

    def server_context(self, which):
        """A CPython server-side SSLContext presenting `which`'s certificate."""
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*self.server(which))
        return ctx

    def client_context(self, ca=None):
        """A CPython client SSLContext trusting `ca` (default: the test CA)."""
        import ssl

        return ssl.create_default_context(cafile=ca or self.ca_pem)


def make_pki(directory, now=None):
    """Generate the whole set into `directory` (created if needed) and return a TestPKI."""
    from cryptography.hazmat.primitives import serialization

    now = now or datetime.datetime.now(datetime.UTC)
    os.makedirs(directory, exist_ok=True)
    pki = TestPKI(directory)
    ca, ca_key = _ca("voice test CA", now)
    other, other_key = _ca("unrelated test CA", now)
    local = ["127.0.0.1", "localhost"]
    leaves = {
        "good": _leaf(ca, ca_key, local, now - _DAY, now + 30 * _DAY),
        "expired": _leaf(ca, ca_key, local, now - 3 * _DAY, now - _DAY),
        "notyet": _leaf(ca, ca_key, local, now + _DAY, now + 30 * _DAY),
        "wronghost": _leaf(ca, ca_key, ["wrong.example"], now - _DAY, now + 30 * _DAY),
        "otherca": _leaf(other, other_key, local, now - _DAY, now + 30 * _DAY),
    }
    pem = serialization.Encoding.PEM
    _write(pki.ca_pem, ca.public_bytes(pem))
    _write(pki.ca_der, ca.public_bytes(serialization.Encoding.DER))
    _write(pki.other_ca_pem, other.public_bytes(pem))
    _write(pki.other_ca_der, other.public_bytes(serialization.Encoding.DER))
    for which, (cert, key) in leaves.items():
        cert_path, key_path = pki.server(which)
        _write(cert_path, cert.public_bytes(pem))
        _write(key_path, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return pki


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tools.certs.testpki DIR", file=sys.stderr)
        return 2
    pki = make_pki(argv[0])
    print("wrote %s: ca.pem ca.der other_ca.pem other_ca.der %s"
          % (pki.dir, " ".join("%s.crt/.key" % s for s in SERVERS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
