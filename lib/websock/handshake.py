# The HTTP/1.1 upgrade of RFC 6455 section 4, without I/O: URL parsing, the request bytes and the
# check of the server's response head.
#
# A refused upgrade becomes a HandshakeError with the status, its text and X-Tt-Logid (what Coze
# support asks for). Header values the caller sent (the bearer token) are scrubbed from anything
# the error carries, in case a server echoes them back.
import binascii
import hashlib

from micropython import const

from websock.errors import HandshakeError, WebSocketError

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_HEADERS = const(64)


def parse_url(url):
    """ws[s]://host[:port][/path][?query] -> (secure, host, port, resource)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("ws", "wss"):
        raise WebSocketError("websocket URL must start with ws:// or wss://, got %r" % scheme)
    secure = scheme == "wss"
    cut = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if 0 <= i < cut:
            cut = i
    netloc, resource = rest[:cut], rest[cut:].split("#")[0]
    if not resource.startswith("/"):
        resource = "/" + resource
    if "@" in netloc:
        raise WebSocketError("credentials in the websocket URL are not supported; use headers")
    port = 443 if secure else 80
    if netloc.startswith("["):  # IPv6 literal
        end = netloc.find("]")
        host, tail = netloc[1:end], netloc[end + 1 :]
        if tail.startswith(":"):
            port = int(tail[1:])
    elif ":" in netloc:
        host, _, p = netloc.rpartition(":")
        port = int(p)
    else:
        host = netloc
    if not host:
        raise WebSocketError("websocket URL has no host")
    return secure, host, port, resource


def make_key(raw16):
    return binascii.b2a_base64(raw16).strip().decode()


def accept_for(key):
    sha1 = hashlib.sha1(key.encode() + _GUID).digest()
    return binascii.b2a_base64(sha1).strip().decode()


def request(host, port, secure, resource, key, headers=None):
    """The upgrade request as bytes. Header names/values with CR or LF are refused (injection)."""
    default = 443 if secure else 80
    h = ("[%s]" % host) if ":" in host else host
    if port != default:
        h = "%s:%d" % (h, port)
    lines = [
        "GET %s HTTP/1.1" % resource,
        "Host: " + h,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: " + key,
        "Sec-WebSocket-Version: 13",
    ]
    for name, value in (headers or {}).items():
        value = str(value)
        if "\r" in name or "\n" in name or ":" in name or "\r" in value or "\n" in value:
            raise WebSocketError("header %r has a CR, LF or ':' in it" % scrub(name, headers))
        lines.append("%s: %s" % (name, value))
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def scrub(text, headers):
    """`text` with every header value the caller sent (and a bare bearer token) masked out."""
    for value in (headers or {}).values():
        value = str(value)
        for secret in (value, value[7:] if value.startswith("Bearer ") else ""):
            if len(secret) >= 6:
                text = text.replace(secret, "***")
    return text


def check_response(head, key, headers=None):
    """Validate the response head (bytes up to the blank line). Returns {lower name: value}."""
    # Non-ASCII bytes become '?': MicroPython has no latin-1 codec and a head is ASCII anyway.
    text = bytes(b if b < 0x80 else 0x3F for b in head).decode()
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        if not parts[0].startswith("HTTP/1."):
            raise ValueError
        status = int(parts[1])
    except (IndexError, ValueError):
        first = scrub(lines[0][:60], headers)
        raise HandshakeError(
            "websocket upgrade: the server did not answer HTTP (%r)" % first
        ) from None
    reason = scrub(parts[2] if len(parts) > 2 else "", headers)
    fields = {}
    for line in lines[1 : 1 + _MAX_HEADERS]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    logid = fields.get("x-tt-logid")
    if logid is not None:
        logid = scrub(logid, headers)
    if status != 101:
        hint = " (check the token)" if status in (401, 403) else ""
        raise HandshakeError(
            "websocket upgrade refused: HTTP %d %s%s%s"
            % (status, reason, (", X-Tt-Logid " + logid) if logid else "", hint),
            status,
            reason,
            logid,
        )
    if (
        fields.get("upgrade", "").lower() != "websocket"
        or "upgrade" not in fields.get("connection", "").lower()
    ):
        raise HandshakeError("websocket upgrade: 101 without Upgrade/Connection headers", 101)
    if fields.get("sec-websocket-accept") != accept_for(key):
        raise HandshakeError("websocket upgrade: wrong Sec-WebSocket-Accept", 101, reason, logid)
    if fields.get("sec-websocket-extensions"):
        raise HandshakeError("websocket upgrade: server forced an extension we did not offer", 101)
    return fields
