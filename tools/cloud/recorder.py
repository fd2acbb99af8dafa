"""Record a live session in format v1: a WebSocket proxy between a device and a cloud.

A device (a board on the LAN, or the simulator) connects to the recorder as if it were the
cloud; the recorder opens the same path and query on the upstream URL (the real Coze with the
user's token, or the fake cloud in tests) and relays every message both ways, logging each with
its time since the first connection opened. The token goes upstream in the Authorization header
and nowhere else: the session file, the progress lines and the error messages are all redacted
(the device's own bearer token too). Each connection's close is recorded, so a reconnect makes
a multi-connection session the replayer understands. The file is rewritten after every
connection, so it is complete even if the recorder is stopped.

`websockets` hands the relay each message whole, so the device's hop carries each one whole
unless `down_fragment_bytes` (and `down_pings`) frame it anew: the simulator passes on the
fake cloud's fragment_bytes / ping_between that way.

TLS, both sides optional: `ssl=` (a server SSLContext) makes the device side wss://, so a device
verifies a certificate the recorder presents; `upstream_ssl=` (a client SSLContext) is what a
wss:// upstream is checked against (default: the system's CAs), e.g. a fake cloud whose
certificate comes from a test CA. Standalone: `--tls-cert/--tls-key` and `--upstream-ca`.

usage: python -m tools.cloud.recorder --upstream wss://ws.coze.cn --out session.jsonl
       [--listen 0.0.0.0:8766] [--token T (or env COZE_TOKEN)] [--mode ptt|free] [--description D]
       [--tls-cert CERT.pem [--tls-key KEY.pem]] [--upstream-ca CA.pem]
"""

import argparse
import asyncio
import json
import os
import sys
from urllib.parse import parse_qsl, urlencode, urlsplit

from tools.cloud.fragments import fragments
from tools.session.format import REDACTED, Session, redact_text, write_session

_CLOUDS = {"/v1/chat": "coze.chat", "/v1/audio/transcriptions": "coze.transcriptions",
           "/v1/audio/speech": "coze.speech", "/api-ws/v1/realtime": "qwen.omni"}


class Recorder:
    def __init__(self, upstream, token=None, out_path=None, mode=None, description="",
                 log=print, ssl=None, upstream_ssl=None, down_fragment_bytes=None,
                 down_pings=False):
        self.upstream = upstream.rstrip("/")
        self.ssl = ssl  # server SSLContext for the device side; None: ws://
        self.upstream_ssl = upstream_ssl  # client SSLContext for a wss:// upstream
        self.token = token
        self.out_path = out_path
        self.session = Session({"mode": mode, "description": description})
        self.secrets = [token] if token else []
        self._log = log
        self._server = None
        self._t0 = None
        self.connections = 0
        self.host = self.port = None
        self.down_fragment_bytes = down_fragment_bytes  # None: each message in one frame
        self.down_pings = down_pings
        self.frames_to_device = 0  # data frames sent to the device, fragments counted singly

    # -- library use --------------------------------------------------------------------------

    async def start(self, host="127.0.0.1", port=0):
        from websockets.asyncio.server import serve

        self._server = await serve(self._relay, host, port, process_request=self._open_upstream,
                                   compression=None, ping_interval=None, max_size=4 * 2**20,
                                   ssl=self.ssl)
        self.host, self.port = host, self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.save()

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()

    def url(self, path="/v1/chat", **query):
        q = urlencode(query)
        return "%s://%s:%d%s%s" % (self.scheme, self.host, self.port, path, "?" + q if q else "")

    @property
    def scheme(self):
        return "ws" if self.ssl is None else "wss"

    def now(self):
        loop = asyncio.get_running_loop()
        if self._t0 is None:
            self._t0 = loop.time()
        return loop.time() - self._t0

    def note(self, kind, value, **extra):
        """Add a non-wire record (button press/release, mic audio) at the current time."""
        return self.session.add(self.now(), kind, value, **extra)

    def save(self):
        if self.out_path:
            write_session(self.session, self.out_path, self.secrets)

    def say(self, text):
        if self._log:
            self._log("recorder: " + redact_text(text, self.secrets))

    # -- the proxy ----------------------------------------------------------------------------

    def _fragmented(self, device, text):
        for part in fragments(device, text.encode(), self.down_fragment_bytes, self.down_pings):
            self.frames_to_device += 1
            yield part

    async def _open_upstream(self, connection, request):
        from websockets.asyncio.client import connect
        from websockets.datastructures import Headers
        from websockets.exceptions import InvalidStatus
        from websockets.http11 import Response

        url = urlsplit(request.path)
        query = [(k, v) for k, v in parse_qsl(url.query) if k.lower() != "authorization"]
        device_auth = request.headers.get("Authorization") or dict(
            parse_qsl(url.query)).get("authorization", "")
        if device_auth:
            self.secrets.append(device_auth.split(" ", 1)[-1])
        auth = "Bearer " + self.token if self.token else device_auth
        target = self.upstream + url.path + ("?" + urlencode(query) if query else "")
        self.say("device connected: %s -> %s" % (request.path, target))
        tls = {"ssl": self.upstream_ssl} if self.upstream_ssl and target[:4] == "wss:" else {}
        try:
            connection.upstream = await connect(
                target, additional_headers={"Authorization": auth} if auth else {},
                compression=None, max_size=4 * 2**20, open_timeout=15, **tls)
        except InvalidStatus as e:
            r = e.response
            self.say("upstream refused the connection: HTTP %d" % r.status_code)
            headers = Headers([(k, v) for k, v in r.headers.raw_items()
                               if k.lower() in ("x-tt-logid", "content-type")])
            headers["Content-Length"] = str(len(r.body or b""))
            return Response(r.status_code, r.reason_phrase, headers,
                            redact_text((r.body or b"").decode("utf-8", "replace"),
                                        self.secrets).encode())
        except (OSError, asyncio.TimeoutError) as e:
            self.say("cannot reach upstream %s: %s" % (target, e))
            return connection.respond(502, "recorder: upstream unreachable\n")
        if self.connections == 0:
            self.session.header.update({"cloud": _CLOUDS.get(url.path, "coze.chat"),
                                        "url_path": url.path, "query": dict(query)})
        return None

    async def _relay(self, device):
        upstream = device.upstream
        self.connections += 1
        self.now()
        closed = {}

        async def pump(src, dst, kind):
            from websockets.exceptions import ConnectionClosed

            try:
                async for raw in src:
                    self.session.add(self.now(), kind, _parse(raw))
                    if kind == "up":
                        await dst.send(raw)
                    elif self.down_fragment_bytes and isinstance(raw, str):
                        await dst.send(self._fragmented(dst, raw), text=True)
                    else:
                        self.frames_to_device += 1
                        await dst.send(raw)
            except ConnectionClosed:
                pass
            closed.setdefault("first", kind)

        tasks = [asyncio.ensure_future(pump(device, upstream, "up")),
                 asyncio.ensure_future(pump(upstream, device, "down"))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        by_cloud = closed.get("first") == "down"
        src, other = (upstream, device) if by_cloud else (device, upstream)
        code = src.close_code if src.close_code is not None else 1006
        reason = src.close_reason or ""
        self.session.add(self.now(), "close", {"by": "cloud" if by_cloud else "device",
                                               "code": code, "reason": reason})
        if code == 1006 and by_cloud:
            other.transport.abort()  # pass a dropped connection on as a drop
        else:
            await other.close(code if code not in (1005, 1006) else 1000, reason)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.say("connection %d closed by %s (%d)" % (self.connections,
                                                     "cloud" if by_cloud else "device", code))
        self.save()


def _parse(raw):
    if isinstance(raw, bytes):
        return {"binary": len(raw)}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"raw": raw}
    return value if isinstance(value, dict) else {"raw": raw}


async def _run(args):
    host, _, port = args.listen.rpartition(":")
    token = args.token or os.environ.get("COZE_TOKEN")
    serve_tls = upstream_tls = None
    if args.tls_cert:
        from tools.cloud.fake_cloud import server_context

        serve_tls = server_context(args.tls_cert, args.tls_key)
    if args.upstream_ca:
        import ssl

        upstream_tls = ssl.create_default_context(cafile=args.upstream_ca)
    rec = Recorder(args.upstream, token, args.out, args.mode, args.description,
                   ssl=serve_tls, upstream_ssl=upstream_tls)
    await rec.start(host or "127.0.0.1", int(port))
    rec.say("listening on %s://%s:%d, forwarding to %s, writing %s (token %s)"
            % (rec.scheme, rec.host, rec.port, rec.upstream, args.out,
               REDACTED if token else "from device"))
    try:
        await asyncio.Event().wait()
    finally:
        await rec.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.cloud.recorder",
                                 description="Record a device's session with a cloud.")
    ap.add_argument("--upstream", default="wss://ws.coze.cn", help="cloud base URL")
    ap.add_argument("--listen", default="127.0.0.1:8766", help="HOST:PORT for the device")
    ap.add_argument("--out", required=True, help="session file to write (format v1)")
    ap.add_argument("--token", default=None, help="upstream token (default: env COZE_TOKEN)")
    ap.add_argument("--mode", default=None, choices=("ptt", "free", "text"))
    ap.add_argument("--description", default="")
    ap.add_argument("--tls-cert", default=None, metavar="PEM",
                    help="serve wss:// to the device with this certificate (chain) file")
    ap.add_argument("--tls-key", default=None, metavar="PEM",
                    help="its private key (default: in the --tls-cert file)")
    ap.add_argument("--upstream-ca", default=None, metavar="PEM",
                    help="trust this CA for a wss:// upstream (default: the system's CAs)")
    args = ap.parse_args(argv)
    if args.tls_key and not args.tls_cert:
        ap.error("--tls-key needs --tls-cert")
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
