# TLS for connect(): the client context built from `cadata`, and what a failed certificate check
# means. Imported only for wss://.
#
# cadata: PEM or DER bytes, handed to mbedtls; a port built without mbedtls's PEM parser (the
# unix port is) refuses PEM, so a refused PEM bundle is split here and each of its certificates
# loaded as DER (mbedtls appends each to the context's CA chain).
#
# A failed check raises ValueError with mbedtls_x509_crt_verify_info()'s lines (e.g. "The
# certificate validity has expired"). cert_error() turns it into one TLSError whose `reason` says
# what to fix:
#   "ca"    not signed by a CA in cadata     "date" expired or not yet valid
#   "name"  issued for another host name     "cert" rejected for another reason
#   "cadata" (from context()) no cadata, or none this ssl can read
# Any other TLS failure (a reset, a server that does not speak TLS) is not a TLSError: it may pass,
# a certificate problem does not.
# The host (CPython's ssl, OpenSSL's verify codes) has its own: tools/hostws.py stands in.
from websock.errors import TLSError

_warned_insecure = False

# mbedtls verify-info fragments, most fundamental first: the dates and names of a certificate
# nobody trusts mean nothing, so "ca" wins when mbedtls reports several.
_MBEDTLS = (("by the trusted CA", "ca"), ("was missing", "ca"), ("has expired", "date"),
            ("in the future", "date"), ("(CN)", "name"))
_WHAT = {"ca": "is not signed by a trusted CA", "date": "has expired or is not yet valid",
         "name": "is for another host name"}
_PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"


def _warn_insecure(host):
    global _warned_insecure
    if not _warned_insecure:
        _warned_insecure = True
        print("websock: WARNING: insecure=True, the certificate of %s is NOT checked" % host)


def context(host, cadata, insecure):
    import ssl

    if insecure:
        _warn_insecure(host)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if cadata is None:  # no system CA store on the device
        raise TLSError("TLS: wss://%s needs cadata= (the server's CA certificate, PEM or "
                       "DER), or insecure=True to skip the check" % host, "cadata", host)
    pem = bytes(cadata[:10]) == b"-----BEGIN"
    try:
        return _load(ssl, cadata)
    except (OSError, ValueError):  # "invalid cert"
        pass
    if pem:
        try:
            return _load(ssl, None, bytes(cadata))
        except (OSError, ValueError):
            pass
    raise TLSError("TLS: cadata holds no certificate this ssl can read (PEM or DER)", "cadata",
                   host)


def _load(ssl, cadata, pem=None):
    # A fresh context each try: a refused load may leave a half-built CA chain behind.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if pem is None:
        ctx.load_verify_locations(cadata=cadata)
        return ctx
    from binascii import a2b_base64

    at = pem.find(_PEM_BEGIN)
    if at < 0:
        raise ValueError("no certificate")
    while at >= 0:
        end = pem.find(b"-----END", at)
        ctx.load_verify_locations(cadata=a2b_base64(pem[at + len(_PEM_BEGIN) : end]))
        at = pem.find(_PEM_BEGIN, end)
    return ctx


def cert_error(host, exc):
    """The TLSError for `exc` if it is a failed certificate check, else None."""
    # The only ValueError a MicroPython TLS handshake raises is mbedtls's verify result.
    if not isinstance(exc, ValueError):
        return None
    detail = str(exc).strip()
    reason = "cert"
    for text, why in _MBEDTLS:
        if text in detail:
            reason = why
            break
    if reason == "cert":
        what = "was rejected: " + detail.split("\n")[0]
    else:
        what = _WHAT[reason]
    return TLSError("TLS: %s's certificate %s" % (host, what), reason, host)
