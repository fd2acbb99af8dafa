# The cloud link: one WebSocket connection at a time, the session handshake, and the downlink
# task that turns server messages into player audio and state-machine events.
#
# Errors are classified once, here: a refused token (HTTP 401/403, error 4100/4101) is an auth
# failure that stops retries; anything else on the way up is a connect failure that backs off.
# A server close while idle is an idle close (reconnect lazily); any other close is a dropped link.
import asyncio

from app import state as S

_AUTH_STATUS = (401, 403)
_AUTH_CODES = (4100, 4101)
_CHUNK = 2048  # decoded audio moved per await: small enough to keep the receive path responsive
_HANDSHAKE_MS = 10000


class Link:
    def __init__(self, session, log, queue, connect, on_audio_start, trace=None):
        self.session = session
        self.log = log
        self.queue = queue
        self._connect = connect  # websock.connect, or the simulator's equivalent
        self._on_audio_start = on_audio_start
        self.trace = trace
        self.player = None  # set by the app before the first connect
        self.ws = None
        self._rx_task = None
        self._ready = asyncio.Event()
        self._chunk = bytearray(_CHUNK)
        self._chunk_mv = memoryview(self._chunk)
        self._discard_chat = None  # chat id whose late audio is dropped after a cancel
        self._turn_audio = False
        self.idle = True  # no turn in flight: a server close now is an idle close

    # ---- connect / close -------------------------------------------------------------------

    async def connect(self):
        from websock import HandshakeError, WebSocketError

        await self.close()
        url = self.session.url()
        self.log.info("net", "connecting to %s" % url.split("?")[0])
        try:
            ws = await self._connect(url, self.session.headers())
        except HandshakeError as exc:
            self._fail(S.E_AUTH_FAILED if exc.status in _AUTH_STATUS else S.E_CONNECT_FAILED,
                       "cloud refused the connection (HTTP %s %s, logid %s)%s" % (
                           exc.status, exc.reason, exc.logid or "-", _auth_hint(exc.status)))
            return
        except (OSError, WebSocketError, asyncio.TimeoutError) as exc:
            self._fail(S.E_CONNECT_FAILED, "cannot reach the cloud: %r" % (exc,))
            return
        self.ws = ws
        self._ready.clear()
        self._rx_task = asyncio.create_task(self._downlink(ws))
        try:
            await asyncio.wait_for_ms(self._ready.wait(), _HANDSHAKE_MS)
        except asyncio.TimeoutError:
            self._fail(S.E_CONNECT_FAILED, "cloud did not confirm the session in time")
            await self.close()
            return
        self.idle = True
        self.queue.post(S.E_CONNECTED)

    def _fail(self, event, message):
        self.log.error("net", message)
        self.queue.post(event, message)

    async def close(self):
        ws, self.ws = self.ws, None
        if self._rx_task is not None:
            self._rx_task.cancel()
            self._rx_task = None
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
        ws = self.ws
        if ws is None:
            return
        for message in messages:
            await ws.send_text(message)
        if trace_name and self.trace is not None:
            self.trace(trace_name, "")
        if messages:
            self.idle = False

    async def send_audio(self, frame):
        ws = self.ws
        if ws is None:
            return
        buf, length = frame
        try:
            await ws.send_inplace(buf, length)
        except OSError as exc:
            self.log.warn("net", "audio send failed: %r" % (exc,))

    async def ping(self):
        if self.ws is not None and not self.ws.closed:
            try:
                await self.ws.ping()
            except OSError:
                pass

    def discard_current_reply(self):
        self._discard_chat = self.session.current_chat_id()
        self._turn_audio = False

    # ---- downlink --------------------------------------------------------------------------

    async def _downlink(self, ws):
        from websock import ConnectionClosed, WebSocketError

        session = self.session
        try:
            while True:
                _, payload = await ws.recv()
                try:
                    event = session.feed(payload)
                except ValueError as exc:  # a malformed message: say so, keep the session
                    self.log.warn("cloud", str(exc))
                    continue
                if event is not None:
                    await self._dispatch(event)
        except ConnectionClosed as exc:
            idle = self.idle and exc.code_received in (1000, 1001)
            self.log.warn("net", "link closed by %s (code %s)%s" % (
                "server" if exc.code_received else "us", exc.code_received,
                ", will reconnect on the next press" if idle else ""))
            self._lost(S.E_IDLE_CLOSED if idle else S.E_DISCONNECTED, ws)
        except (OSError, WebSocketError) as exc:
            self.log.warn("net", "link lost: %r" % (exc,))
            self._lost(S.E_DISCONNECTED, ws)

    def _lost(self, event, ws):
        if self.ws is ws:
            self.ws = None
            self._rx_task = None
            self.queue.post(event)

    async def _dispatch(self, event):
        from cloud import events as E

        kind = event.kind
        if kind == E.EV_AUDIO:
            await self._play(event)
        elif kind == E.EV_READY:
            self._ready.set()
        elif kind == E.EV_SPEECH_STARTED:
            self.queue.post(S.E_SPEECH_STARTED)
        elif kind == E.EV_SPEECH_STOPPED:
            self.queue.post(S.E_SPEECH_STOPPED)
        elif kind == E.EV_TURN_DONE:
            self._turn_audio = False
            self.idle = True
            self.queue.post(S.E_TURN_DONE)
        elif kind == E.EV_CANCELED:
            self._turn_audio = False
            self.idle = True
            self.queue.post(S.E_CANCELED)
        elif kind == E.EV_ERROR:
            auth = event.code in _AUTH_CODES
            self.log.error("cloud", "error %s: %s%s" % (
                event.code, event.msg, _code_hint(event.code)))
            self.queue.post(S.E_AUTH_FAILED if auth else S.E_CLOUD_ERROR, event.msg)
        elif kind == E.EV_TOOL_CALL:
            self.queue.post(S.E_TOOL_CALL if hasattr(S, "E_TOOL_CALL") else S.E_CLOUD_ERROR, event)
        elif kind in (E.EV_TEXT, E.EV_TRANSCRIPT):
            if event.text:
                self.log.debug("cloud", "%s: %s" % (
                    "bot" if kind == E.EV_TEXT else "you", event.text))

    async def _play(self, event):
        if self._discard_chat is not None and event.chat_id == self._discard_chat:
            return  # late audio of a reply the user interrupted
        player = self.player
        chunk = self._chunk
        mv = self._chunk_mv
        while True:
            await player.wait_room(len(chunk))
            n = event.read_audio(mv)
            if not n:
                break
            player.write(mv, n)
        if not self._turn_audio:
            self._turn_audio = True
            self.idle = False
            if self.trace is not None:
                self.trace("first_audio", "")
            self._on_audio_start()


def _auth_hint(status):
    if status in _AUTH_STATUS:
        return ": the token was refused; set a valid token with `make configure`, then press"
    return ""


def _code_hint(code):
    hints = {
        4100: " (token refused: run `make configure` with a valid token, then press)",
        4101: " (token lacks permission for this bot: check the token's scopes)",
        4016: " (a chat is already running: wait for it or press to interrupt)",
        4011: " (account out of tokens: top up the Coze account)",
        4015: " (bot not published for API: publish it as an API service in Coze)",
    }
    return hints.get(code, "")
