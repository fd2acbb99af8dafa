"""A fake Coze / Qwen-Omni realtime server on the pinned `websockets` library.

Reactive by default (tools/cloud/coze_chat.py, tools/cloud/qwen_omni.py); replays a recorded
session when given one (tools/cloud/replay.py). Scriptable: expected token, reply WAV and text,
burst mode, a tool call to ask for, and injections ("KIND[:ARG]@WHEN", each fires once):
  error:4100 | error:4016 | error:5000 | close[:CODE|abort] | stall:SECONDS
  | cancel[:bare] (the cloud cancels the running reply itself; bare: a canceled event with no
    data, as the @coze/api types define it)
  WHEN = connect | update | complete | turn | audio:N (before the N-th audio frame of a reply)
         | done (right after conversation.chat.completed: an idle close)
Injections may also be requested per connection with the query parameter `fake_inject`
(comma-separated), so a simulator or a board on the LAN can ask for them through its URL.

TLS: pass `ssl=` (a server ssl.SSLContext, e.g. tools/certs/testpki's server_context()) and
the cloud serves wss://; standalone, `--tls-cert CERT.pem [--tls-key KEY.pem]`. Plain ws:// is
the default.

usage: python -m tools.cloud.fake_cloud [--host 0.0.0.0] [--port 8765] [--burst] [--reply WAV]
       [--token T] [--inject SPEC ...] [--replay SESSION.jsonl] [--verbose]
       [--tls-cert CERT.pem [--tls-key KEY.pem]]
"""

import argparse
import asyncio
import os
import secrets
import sys
from urllib.parse import parse_qs, urlsplit

from tools.cloud import audio

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_REPLY = os.path.join(ROOT, "tests", "data", "reply", "reply.wav")
COZE_PATH = "/v1/chat"
QWEN_PATH = "/api-ws/v1/realtime"


class Injection:
    KINDS = ("error", "close", "stall", "cancel")

    def __init__(self, kind, arg=None, when="complete", times=1):
        if kind not in self.KINDS:
            raise ValueError("injection kind %r: use error, close, stall or cancel" % kind)
        if kind == "error":
            arg = int(arg)
        elif kind == "close":
            arg = "abort" if arg == "abort" else int(arg or 1011)
        elif kind == "cancel":
            if arg not in (None, "bare"):
                raise ValueError("injection cancel takes no argument or :bare, not %r" % arg)
        else:
            arg = float(arg)
        self.kind, self.arg, self.when, self.times = kind, arg, when, times

    @classmethod
    def parse(cls, spec):
        """'error:4100@connect', 'close@audio:5', 'stall:3@turn' -> Injection."""
        what, _, when = spec.partition("@")
        kind, _, arg = what.partition(":")
        return cls(kind, arg or None, when or "complete")

    def __repr__(self):
        return "Injection(%s:%s@%s)" % (self.kind, self.arg, self.when)


class CloudOptions:
    """Everything scriptable about the fake cloud; tests pass keyword overrides."""

    def __init__(self, **kw):
        self.token = None  # expected bearer token; None accepts any non-empty one
        self.reply_wav = DEFAULT_REPLY
        self.reply_text = "Hello, this is the fake cloud. Here is my answer."
        self.greeting_text = "Hi! Hold the button and ask me anything."
        self.transcript = "(what the fake cloud heard)"
        self.burst = False  # ignore limit_config pacing, like the real capture does
        self.qwen_speed = 2.0  # Qwen audio streams this many times faster than real time
        self.think_s = 0.2  # pause between chat.in_progress and the first audio
        self.vad_threshold_dbfs = -40.0
        self.tool_call = None  # (name, arguments) to ask for with requires_action
        # Audio frames of a reply already on the wire when it is canceled (by the device or by
        # the cloud's VAD): they still arrive, before the canceled event, as on a real link.
        self.late_frames = 0
        # The downlink's shape (tests of the device's streaming receive): audio bytes per
        # audio delta (None: the frame size the device asked for); every message in fragments
        # of this many bytes (None: whole), with a ping between fragments; one answer-text
        # delta of this many bytes before the audio (0: none).
        self.delta_bytes = None
        self.fragment_bytes = None
        self.ping_between = False
        self.big_text_bytes = 0
        self.voices = None  # voice ids (Coze) / names (Qwen) the cloud accepts; None: any
        self.injections = []
        self.seed = None  # seeds the ids, for reproducible recordings
        self.verbose = False  # print every non-audio event (standalone use)
        for key, value in kw.items():
            if not hasattr(self, key):
                raise TypeError("CloudOptions: unknown option %r" % key)
            setattr(self, key, value)
        self.injections = [i if isinstance(i, Injection) else Injection.parse(i)
                           for i in self.injections]


class FakeCloud:
    """The server. `async with FakeCloud(...) as cloud:` then connect to `cloud.url()`."""

    def __init__(self, options=None, replay=None, ssl=None, **kw):
        self.options = options or CloudOptions(**kw)
        self.replay = replay  # a tools.session Session to replay instead of reacting
        self.ssl = ssl  # a server SSLContext: serve wss://; None: ws://
        self.append_tolerance = 5  # replay: append-run length difference that is no departure
        self.connections = []
        self.injections = list(self.options.injections)
        self._reply_cache = {}
        self._server = None
        self.host = None
        self.port = None

    def replay_report(self):
        """{"connections", "departures"} of the replay so far (see tools/cloud/replay.py)."""
        from tools.cloud.replay import report

        return report(self)

    def url(self, path=COZE_PATH, **query):
        q = "&".join("%s=%s" % kv for kv in query.items())
        return "%s://%s:%d%s%s" % (self.scheme, self.host, self.port, path, "?" + q if q else "")

    @property
    def scheme(self):
        return "ws" if self.ssl is None else "wss"

    def reply_audio(self, rate):
        if rate not in self._reply_cache:
            samples, src = audio.read_wav(self.options.reply_wav)
            self._reply_cache[rate] = audio.resample(samples, src, rate)
        return self._reply_cache[rate]

    def take_injection(self, when, path=None, extra=None):
        for pool in (extra or [], self.injections):
            for inj in pool:
                if inj.when == when and inj.times > 0:
                    inj.times -= 1
                    return inj
        return None

    async def start(self, host="127.0.0.1", port=0):
        from websockets.asyncio.server import serve

        self._server = await serve(self._handle, host, port, process_request=self._check,
                                   compression=None, ping_interval=None, max_size=4 * 2**20,
                                   ssl=self.ssl)
        sock = self._server.sockets[0]
        self.host, self.port = host, sock.getsockname()[1]
        return self

    async def stop(self):
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()

    # -- handshake and dispatch ---------------------------------------------------------------

    def _check(self, connection, request):
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        url = urlsplit(request.path)
        if url.path not in (COZE_PATH, QWEN_PATH):
            return connection.respond(404, "fake cloud: no endpoint at %s\n" % url.path)
        query = parse_qs(url.query)
        auth = request.headers.get("Authorization") or (query.get("authorization") or [""])[0]
        token = auth[7:] if auth[:7].lower() == "bearer " else ""
        expected = self.options.token
        if not token or (expected is not None and not secrets.compare_digest(token, expected)):
            body = b'{"code":4100,"msg":"fake cloud: missing or wrong token"}'
            headers = Headers([("Content-Type", "application/json"),
                               ("Content-Length", str(len(body))),
                               ("X-Tt-Logid", "02fake%013d" % self.port)])
            return Response(401, "Unauthorized", headers, body)
        return None

    async def _handle(self, ws):
        url = urlsplit(ws.request.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items() if k != "authorization"}
        extra = [Injection.parse(s) for s in query.pop("fake_inject", "").split(",") if s]
        self.injections.extend(extra)
        if self.replay is not None:
            from tools.cloud.replay import ReplayConn as cls
        elif url.path == QWEN_PATH:
            from tools.cloud.qwen_omni import QwenOmniConn as cls
        else:
            from tools.cloud.coze_chat import CozeChatConn as cls
        conn = cls(self, ws, url.path, query)
        self.connections.append(conn)
        await conn.run()


def server_context(certfile, keyfile=None):
    """A server SSLContext presenting `certfile` (PEM; the key in it too when keyfile is None)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


async def _serve_forever(args):
    from tools.session.format import read_session

    opts = CloudOptions(token=args.token, burst=args.burst, reply_wav=args.reply,
                        injections=args.inject or [], verbose=args.verbose)
    replay = read_session(args.replay) if args.replay else None
    tls = server_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    cloud = await FakeCloud(opts, replay=replay, ssl=tls).start(args.host, args.port)
    s = cloud.scheme
    print("fake cloud listening: Coze %s://%s:%d%s?bot_id=..., Qwen %s://%s:%d%s"
          % (s, args.host, cloud.port, COZE_PATH, s, args.host, cloud.port, QWEN_PATH),
          flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await cloud.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.cloud.fake_cloud",
                                 description="Fake Coze / Qwen-Omni realtime voice server.")
    ap.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to let a board on the LAN in")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--burst", action="store_true", help="ignore limit_config pacing")
    ap.add_argument("--reply", default=DEFAULT_REPLY, help="16-bit WAV the bot answers with")
    ap.add_argument("--token", default=None, help="the only token accepted (default: any)")
    ap.add_argument("--inject", action="append", metavar="SPEC", help="e.g. error:5000@turn")
    ap.add_argument("--replay", default=None, help="replay this format-v1 session file")
    ap.add_argument("--verbose", "-v", action="store_true", help="print each non-audio event")
    ap.add_argument("--tls-cert", default=None, metavar="PEM",
                    help="serve wss:// with this certificate (chain) file")
    ap.add_argument("--tls-key", default=None, metavar="PEM",
                    help="its private key (default: in the --tls-cert file)")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.reply):
        ap.error("--reply %s: no such file" % args.reply)
    if args.tls_key and not args.tls_cert:
        ap.error("--tls-key needs --tls-cert")
    for flag, path in (("--tls-cert", args.tls_cert), ("--tls-key", args.tls_key)):
        if path and not os.path.isfile(path):
            ap.error("%s %s: no such file" % (flag, path))
    if args.tls_cert:
        try:
            server_context(args.tls_cert, args.tls_key)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            ap.error("--tls-cert/--tls-key: cannot load the certificate and key: %s" % exc)
    try:
        asyncio.run(_serve_forever(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
