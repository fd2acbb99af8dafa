# The cloud link: one WebSocket connection at a time, the session handshake, the sends, and the
# one place where errors are classified. The receive task's body is app/downlink.py.
#
# Connect: open the socket, start the receive task, and wait until the session is configured:
# EV_CREATED -> configure() sends session_update(), EV_READY -> configured(). A reconfiguration
# at run time (mode, voice) is the same configure() on the same live session object.
# Errors:
# - on the way up: a refused token (HTTP 401/403) is an auth failure that stops retries; so is a
#   certificate the device cannot verify (websock's TLSError: ca_file, base_url or the clock
#   needs fixing, and retrying changes none of them), posted as E_FATAL; anything else is a
#   connect failure that backs off;
# - a cloud error event: a refused token or key (4100/4101) stops retries; a refused request
#   parameter while a config message is pending is a config error: at connect it is E_FATAL
#   with one line naming the config.json field (reconnecting with the same config cannot
#   help), at run time the change is undone; harmless ones (4104, a cancel that crossed the
#   reply's end) are debug lines; the rest are E_CLOUD_ERROR;
# - a server close while nothing is in flight (session.reply.idle()) is an idle close
#   (reconnect lazily); any other close is a dropped link.
# Every error line carries the connection's Coze logid, so Coze support can trace the call.
import asyncio
import sys

from websock.errors import WebSocketError

from app import state as S

_AUTH_STATUS = (401, 403)
_HANDSHAKE_MS = 10000
_PING_EVERY_MS = 20000


class Link:
    def __init__(self, session, log, queue, connect, token, trace=None):
        self.session = session
        self.log = log
        self.queue = queue
        self._connect = connect  # websock.connect, or the simulator's equivalent
        self._token = token
        self.trace = trace
        self.downlink = None  # app/downlink.Downlink: what the receive task runs (set by the app)
        self.ws = None
        self._send_failed = None  # the link an audio send last failed on (logged once)
        self._rx_task = None
        self._ready = asyncio.Event()  # set when the handshake is over, either way
        self._refused = False  # the handshake ended in an error (reported where it was found)
        self._pending = False  # a config message is out and not yet confirmed
        self._undo = None  # the settings a refusal of it restores (None: a refusal is fatal)
        self.ca_file = "ca_file"  # named in the hint of a certificate failure

    def up(self):
        return self.ws is not None

    # ---- connect / close -------------------------------------------------------------------

    async def connect(self):
        """Open the link and configure the session; True once E_CONNECTED is posted."""
        from websock import HandshakeError, TLSError

        await self.close()
        url = self.session.url()
        self.log.info("net", "connecting to %s" % url.split("?")[0])
        try:
            ws = await self._connect(url, self.session.headers(self._token))
        except HandshakeError as exc:
            self._fail(S.E_AUTH_FAILED if exc.status in _AUTH_STATUS else S.E_CONNECT_FAILED,
                       "cloud refused the connection (HTTP %s %s, logid %s)%s" % (
                           exc.status, exc.reason, exc.logid or "-", _auth_hint(exc.status)))
            return False
        except TLSError as exc:
            self._fail(S.E_FATAL, "%s: %s, then press" % (exc, _tls_hint(exc.reason,
                                                                          self.ca_file)))
            return False
        except (OSError, WebSocketError, asyncio.TimeoutError) as exc:
            self._fail(S.E_CONNECT_FAILED, "cannot reach the cloud: %r" % (exc,))
            return False
        except Exception as exc:  # noqa: BLE001 - e.g. no ssl module: never stuck in CONNECTING
            self._fail(S.E_CONNECT_FAILED, "connect failed: %r" % (exc,))
            return False
        opening = self.session.on_open()  # a new connection: the reply lifecycle starts afresh
        self.ws = ws
        self._ready.clear()
        self._refused = self._pending = False
        self._undo = None
        self._rx_task = asyncio.create_task(self._receive(ws))
        await self.send_all(opening)
        try:
            await asyncio.wait_for_ms(self._ready.wait(), _HANDSHAKE_MS)
        except asyncio.TimeoutError:
            self._fail(S.E_CONNECT_FAILED, "cloud did not confirm the session in time%s"
                       % self._logid())
            await self.close()
            return False
        if self._refused:
            await self.close()
            return False
        if self.ws is not ws:
            return False  # closed during the handshake: the receive task has reported it
        self.queue.post(S.E_CONNECTED)
        ota = sys.modules.get("otaboot")  # a new version is confirmed by its first good link
        if ota is not None and ota.pending:
            ota.confirm(self.log)
        return True

    async def configure(self, undo=None):
        """Send the session's whole config (chat.update / session.update): at connect, and
        after a reconfiguration of the live session. undo: the settings to restore if the
        cloud refuses it (None: a refusal is a config error). Down: the next connect sends it."""
        if self.ws is None:
            return
        self._pending = True
        self._undo = undo
        await self.send_all(self.session.session_update())

    def created(self, event):
        # EV_CREATED: the cloud accepted the connection; the session's config goes out.
        return self.configure()

    def configured(self, event=None):
        # EV_READY: the config took (at connect, or after a reconfiguration).
        self._pending = False
        self._undo = None
        self._ready.set()

    async def close(self):
        ws, self.ws = self.ws, None
        task, self._rx_task = self._rx_task, None
        if task is not None:
            task.cancel()
            # Let the reader unwind first: a reader still marked busy would make ws.close()
            # wait its whole timeout for a close frame nobody is reading.
            try:
                await task
            except BaseException:  # noqa: BLE001 - CancelledError, or what killed the reader
                pass
        if ws is not None and not ws.closed:
            try:
                await ws.close()
            except Exception:  # noqa: BLE001 - closing a broken link must not fail the caller
                pass

    def deinit(self):
        if self._rx_task is not None:
            self._rx_task.cancel()
            self._rx_task = None

    # ---- uplink ----------------------------------------------------------------------------

    async def send_all(self, messages, trace_name=None):
        """Send one message (str) or several (a tuple, as begin_turn()/end_turn() return)."""
        ws = self.ws
        if ws is None or not messages:
            return
        if isinstance(messages, str):
            messages = (messages,)
        try:
            for message in messages:
                await ws.send_text(message)
        except (OSError, WebSocketError) as exc:
            # The link died under us; the receive task sees the same close and reports it.
            self.log.warn("net", "send failed, link lost: %r" % (exc,))
            return
        if trace_name and self.trace is not None:
            self.trace(trace_name, "")

    async def send_audio(self, frame):
        ws = self.ws
        if ws is None:
            return
        buf, length = frame
        self.session.reply.talking()  # a turn is in flight: a close now is no idle close
        try:
            await ws.send_inplace(buf, length)
        except (OSError, WebSocketError) as exc:  # ConnectionClosed: lost while sending
            if self._send_failed is not ws:  # once per link; the receive task reports the loss
                self._send_failed = ws
                self.log.warn("net", "audio send failed: %r" % (exc,))

    async def keepalive(self):
        # The keepalive task: a WebSocket ping every 20 s keeps NATs and the cloud's idle timer
        # from dropping a quiet link.
        while True:
            await asyncio.sleep_ms(_PING_EVERY_MS)
            ws = self.ws
            if ws is not None and not ws.closed:
                try:
                    await ws.ping()
                except (OSError, WebSocketError):
                    pass  # a dead link is reported by the receive task

    # ---- the receive task ------------------------------------------------------------------

    async def _receive(self, ws):
        from websock import ConnectionClosed

        try:
            await self.downlink.run(ws)
        except ConnectionClosed as exc:
            idle = self.session.reply.idle() and exc.code_received in (1000, 1001)
            self.log.warn("net", "link closed by %s (code %s)%s%s" % (
                "server" if exc.code_received else "us", exc.code_received, self._logid(),
                ", will reconnect on the next press" if idle else ""))
            self._lost(S.E_IDLE_CLOSED if idle else S.E_DISCONNECTED, ws)
        except (OSError, WebSocketError) as exc:
            self.log.warn("net", "link lost: %r%s" % (exc, self._logid()))
            self._lost(S.E_DISCONNECTED, ws)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug here must not leave a silent dead link
            self.log.error("net", "downlink failed: %r; reconnecting%s" % (exc, self._logid()))
            self._lost(S.E_DISCONNECTED, ws)
            await ws.close(1011)

    def _lost(self, event, ws):
        if self.ws is ws:
            self.ws = None
            self._rx_task = None
            self.queue.post(event)
            self._ready.set()  # a handshake in progress is over

    # ---- errors ----------------------------------------------------------------------------

    def _logid(self):
        logid = self.session.logid
        return ", logid %s" % logid if logid else ""

    def _fail(self, event, line):
        self.log.error("net", line)
        self.queue.post(event, line)

    def _end_handshake(self, event, line):
        # An error ended the handshake: say it once, post it, and let connect() return.
        if line:
            self.log.error("cloud", line)
        self.queue.post(event, line)
        self._refused = True
        self._ready.set()

    def reply_failed(self, event):
        line = "the reply failed: %s %s%s" % (event.code, event.msg, self._logid())
        self.log.error("cloud", line)
        self.queue.post(S.E_CLOUD_ERROR, line)

    def cloud_error(self, event):
        from cloud.errors import ACT_FATAL, ACT_FIX, ACT_IGNORE, action_for

        action, hint = event.action, event.hint
        if action is None:
            action, hint = action_for(event.code)
        line = "error %s: %s (%s)%s" % (event.code, event.msg, hint, self._logid())
        if action == ACT_IGNORE:
            self.log.debug("cloud", line)
        elif action == ACT_FATAL:
            self._end_handshake(S.E_AUTH_FAILED, line)
        elif self._pending and action == ACT_FIX:
            self._refusal(event, line)
        elif not self._ready.is_set():
            self._end_handshake(S.E_CONNECT_FAILED, line)  # server trouble: back off, retry
        else:
            self.log.error("cloud", line)
            self.queue.post(S.E_CLOUD_ERROR, line)

    def _refusal(self, event, line):
        # The cloud refused the config message: a refused update changes nothing there.
        from app.cloud_session import refused_field

        self._pending = False
        undo, self._undo = self._undo, None
        field = refused_field("qwen" if self.session.NAME == "qwen-omni" else "coze", event)
        if undo is not None:
            # A change made at run time (the voice tool): take it back, the talk goes on.
            settings = self.session.settings
            what = ", ".join("%s %s" % (key, settings.get(key)) for key in undo)
            self.session.reconfigure(undo)
            self.log.warn("cloud", "the cloud refused %s: %s; keeping the previous setting"
                          % (what, line))
        elif field == "conversation_id":
            # Ours, not the user's: forget it and start a new conversation.
            self.session.reply.conversation_id = None
            self.log.warn("cloud", "the conversation could not be resumed (%s); starting a "
                          "new one" % line)
            self._end_handshake(S.E_CONNECT_FAILED, None)
        else:
            fix = ("fix %s in config.json" % field if field else "check the cloud settings in"
                   " config.json (codec, rates, voice_id, speech_rate)")
            self._end_handshake(S.E_FATAL, "the cloud refused the session settings: %s; %s, "
                                "then press" % (line, fix))


def _tls_hint(reason, ca_file):
    if reason == "date":
        return "check the device clock (NTP) and the server's certificate dates"
    if reason == "name":
        return "check the host name in base_url"
    if reason == "ca":
        return "put the server's root CA in ca_file %s (tools/certs/README.md)" % ca_file
    return "check ca_file %s (`make deploy` copies it)" % ca_file


def _auth_hint(status):
    if status in _AUTH_STATUS:
        return ": the token was refused; set a valid token with `make configure`, then press"
    return ""
