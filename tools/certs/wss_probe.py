# Open a wss:// URL with the device's own WebSocket client (lib/websock) and a CA file, and print
# how it went as one JSON line. Runs under MicroPython's unix port, which is the device's
# mbedtls TLS stack on the host, and under CPython:
#
#   .venv/bin/micropython tools/certs/wss_probe.py wss://ws.coze.cn/v1/chat tools/certs/ca.pem
#   .venv/bin/micropython tools/certs/wss_probe.py URL CA_FILE --token-env COZE_TOKEN --send TEXT
#
# {"ok": true, "first": ...}: TLS verified and the upgrade accepted; with --send, "reply" is
# the next message after TEXT went up. {"ok": false, "error": "TLSError", "reason": "ca", ...}:
# the certificate check failed (reason as in lib/websock/tls.py). An HTTP 401 without a token
# ("error": "HandshakeError", "status": 401) still means the certificate was verified. The token
# is read from the named environment variable and never printed. Exit status 0 only when ok.
import sys

_parts = __file__.split("/")
_ROOT = "/".join(_parts[:-3]) or "."
sys.path.insert(0, _ROOT + "/lib")

if sys.implementation.name != "micropython":
    sys.path.insert(1, _ROOT)
    from tools import hostcompat  # noqa: F401 - CPython: the MicroPython shims websock expects

import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import websock  # noqa: E402

_SHOW = 200  # characters of a server message to print


def _args(argv):
    opts = {"url": None, "ca": None, "token_env": None, "send": None}
    rest = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--token-env", "--send") and i + 1 < len(argv):
            opts[a[2:].replace("-", "_")] = argv[i + 1]
            i += 2
            continue
        rest.append(a)
        i += 1
    if not rest or len(rest) > 2:
        raise SystemExit("usage: wss_probe.py URL [CA_FILE] [--token-env NAME] [--send TEXT]")
    opts["url"] = rest[0]
    opts["ca"] = rest[1] if len(rest) > 1 else None
    return opts


def _text(payload):
    return bytes(payload)[:_SHOW].decode("utf-8", "replace")


async def probe(opts):
    cadata = None
    if opts["ca"]:
        with open(opts["ca"], "rb") as f:
            cadata = f.read()
    token = os.getenv(opts["token_env"]) if opts["token_env"] else None
    headers = {"Authorization": "Bearer " + token} if token else {}
    out = {"ok": False, "url": opts["url"].split("?")[0]}
    try:
        ws = await websock.connect(opts["url"], headers, cadata=cadata)
    except websock.TLSError as exc:
        out.update(error="TLSError", reason=exc.reason, message=str(exc))
        return out
    except websock.HandshakeError as exc:
        out.update(error="HandshakeError", status=exc.status, message=str(exc))
        return out
    except Exception as exc:  # noqa: BLE001 - reported, whatever it is
        out.update(error=type(exc).__name__, message=str(exc))
        return out
    try:
        _, first = await asyncio.wait_for_ms(ws.recv(), 10000)
        out["first"] = _text(first)
        if opts["send"] is not None:
            await ws.send_text(opts["send"])
            _, reply = await asyncio.wait_for_ms(ws.recv(), 10000)
            out["reply"] = _text(reply)
        out["ok"] = True
    except Exception as exc:  # noqa: BLE001
        out.update(error=type(exc).__name__, message=str(exc))
    await ws.close()
    return out


def main(argv):
    out = asyncio.run(probe(_args(argv)))
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
