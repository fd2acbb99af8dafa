# The cloud link: one WebSocket connection at a time, the session handshake, and the downlink
# task that turns server messages into player audio and state-machine events.
#
# Errors are classified once, here: a refused token (HTTP 401/403, error 4100/4101) is an auth
# failure that stops retries; so is a certificate the device cannot verify (websock's TLSError:
# ca_file, base_url or the clock needs fixing, and retrying changes none of them), posted as
# E_FATAL; anything else on the way up is a connect failure that backs off.
# A server close while idle is an idle close (reconnect lazily); any other close is a dropped link.
import asyncio
import sys

from cloud import base as C
from websock.errors import WebSocketError

from app import state as S

_AUTH_STATUS = (401, 403)
_CHUNK = 1024  # decoded audio moved per await: small, and the receive path stays responsive
_HANDSHAKE_MS = 10000


class Link:
    def __init__(self, session, log, queue, connect, on_audio_start, tools, token, trace=None):
        self.session = session
        self.tools = tools
        self._token = token
        self.log = log
        self.queue = queue
        self._connect = connect  # websock.connect, or the simulator's equivalent
        self._on_audio_start = on_audio_start
        self.trace = trace
        self.player = None  # set by the app before the first connect
        self.ws = None
        self._send_failed = None  # the link an audio send last failed on (logged once)
        self._rx_task = None
        self._ready = asyncio.Event()
        self._chunk = bytearray(_CHUNK)
        self._chunk_mv = memoryview(self._chunk)
        self._turn_audio = False
        self.idle = True  # no turn in flight: a server close now is an idle close
        self.greeting = None  # text the bot speaks once after the first connect
        self.ca_file = "ca_file"  # named in the hint of a certificate failure

    # ---- connect / close -------------------------------------------------------------------

    async def connect(self):
        from websock import HandshakeError, TLSError, WebSocketError

        await self.close()
        url = self.session.url()
        self.log.info("net", "connecting to %s" % url.split("?")[0])
        try:
            ws = await self._connect(url, self.session.headers(self._token))
        except HandshakeError as exc:
            self._fail(S.E_AUTH_FAILED if exc.status in _AUTH_STATUS else S.E_CONNECT_FAILED,
                       "cloud refused the connection (HTTP %s %s, logid %s)%s" % (
                           exc.status, exc.reason, exc.logid or "-", _auth_hint(exc.status)))
            return
        except TLSError as exc:
            self._fail(S.E_FATAL, "%s: %s, then press" % (exc, _tls_hint(exc.reason,
                                                                          self.ca_file)))
            return
        except (OSError, WebSocketError, asyncio.TimeoutError) as exc:
            self._fail(S.E_CONNECT_FAILED, "cannot reach the cloud: %r" % (exc,))
            return
        except Exception as exc:  # noqa: BLE001 - e.g. no ssl module: never stuck in CONNECTING
            self._fail(S.E_CONNECT_FAILED, "connect failed: %r" % (exc,))
            return
        self.ws = ws
        self._turn_audio = False  # a reply cut off with the old link must not mute the next
        self._ready.clear()
        self._rx_task = asyncio.create_task(self._downlink(ws))
        try:
            await asyncio.wait_for_ms(self._ready.wait(), _HANDSHAKE_MS)
        except asyncio.TimeoutError:
            self._fail(S.E_CONNECT_FAILED, "cloud did not confirm the session in time")
            await self.close()
            return
        if self.ws is not ws:
            return  # closed during the handshake: the downlink task has reported it
        self.idle = True
        self.queue.post(S.E_CONNECTED)
        ota = sys.modules.get("otaboot")  # a new version is confirmed by its first good link
        if ota is not None and ota.pending:
            ota.confirm(self.log)
        if self.greeting:
            # Once per boot, not on every reconnect.
            greeting, self.greeting = self.greeting, None
            try:
                await self.send_all(self.session.generate_audio(greeting), "greeting")
            except Exception as exc:  # noqa: BLE001 - Unsupported on some clouds, or too long
                self.log.warn("app", "greeting not sent: %s" % exc)

    def _fail(self, event, message):
        self.log.error("net", message)
        self.queue.post(event, message)

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
        if ws is None:
            return
        if isinstance(messages, str):
            messages = (messages,)
        try:
            for message in messages:
                await ws.send_text(message)
        except (OSError, WebSocketError) as exc:
            # The link died under us; the downlink task sees the same close and reports it.
            self.log.warn("net", "send failed, link lost: %r" % (exc,))
            return
        if trace_name and self.trace is not None:
            self.trace(trace_name, "")
        if messages:
            self.idle = False

    async def send_audio(self, frame):
        ws = self.ws
        if ws is None:
            return
        buf, length = frame
        self.idle = False  # a turn is in flight: a close now is a dropped link, not idleness
        try:
            await ws.send_inplace(buf, length)
        except (OSError, WebSocketError) as exc:  # ConnectionClosed: lost while sending
            if self._send_failed is not ws:  # once per link; the downlink reports the loss
                self._send_failed = ws
                self.log.warn("net", "audio send failed: %r" % (exc,))

    async def ping(self):
        ws = self.ws
        if ws is not None and not ws.closed:
            try:
                await ws.ping()
            except (OSError, WebSocketError):
                pass  # a dead link is reported by the downlink task

    def reply_interrupted(self):
        # session.cancel() marks the reply stale, so its late audio is dropped in _play().
        self._turn_audio = False

    # ---- downlink --------------------------------------------------------------------------

    async def _downlink(self, ws):
        from cloud.errors import ProtocolError
        from websock import ConnectionClosed, MessageTooBig, WebSocketError

        session = self.session
        try:
            while True:
                _, payload = await ws.recv()
                try:
                    event = session.feed(payload)
                except ValueError as exc:  # a malformed message: say so, keep the session
                    self.log.warn("cloud", str(exc))
                    continue
                if event is None:
                    continue
                try:
                    await self._dispatch(event)
                except ProtocolError as exc:  # e.g. bad base64 in a delta: drop that message
                    self.log.warn("cloud", str(exc))
        except ConnectionClosed as exc:
            idle = self.idle and exc.code_received in (1000, 1001)
            self.log.warn("net", "link closed by %s (code %s)%s" % (
                "server" if exc.code_received else "us", exc.code_received,
                ", will reconnect on the next press" if idle else ""))
            self._lost(S.E_IDLE_CLOSED if idle else S.E_DISCONNECTED, ws)
        except MessageTooBig as exc:
            self.log.error("net", "%s: the cloud sent more than rx_buffer_bytes; raise "
                           "rx_buffer_bytes in config.json (32768 takes unpaced audio)" % exc)
            self._lost(S.E_DISCONNECTED, ws)
        except (OSError, WebSocketError) as exc:
            self.log.warn("net", "link lost: %r" % (exc,))
            self._lost(S.E_DISCONNECTED, ws)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug here must not leave a silent dead link
            self.log.error("net", "downlink failed: %r; reconnecting" % (exc,))
            self._lost(S.E_DISCONNECTED, ws)
            await ws.close(1011)

    def _lost(self, event, ws):
        if self.ws is ws:
            self.ws = None
            self._rx_task = None
            self.queue.post(event)

    async def _dispatch(self, event):
        kind = event.kind
        if kind == C.EV_AUDIO:
            await self._play(event)
        elif kind == C.EV_CREATED:
            await self.send_all((self.session.session_update(),))
        elif kind == C.EV_READY:
            self._ready.set()
        elif kind == C.EV_SPEECH_STARTED:
            self.queue.post(S.E_SPEECH_STARTED)
            if self.trace is not None:
                self.trace("speech_started", "")
        elif kind == C.EV_SPEECH_STOPPED:
            self.queue.post(S.E_SPEECH_STOPPED)
        elif kind == C.EV_TURN_DONE:
            self._end_of_reply(S.E_TURN_DONE)
        elif kind == C.EV_AUDIO_DONE and not self.session.responding:
            # Audio with no chat around it (input_text.generate_audio, the greeting) ends with
            # audio.completed alone; inside a chat, chat.completed ends the turn.
            self._end_of_reply(S.E_TURN_DONE)
        elif kind == C.EV_CANCELED:
            self._end_of_reply(S.E_CANCELED)
        elif kind == C.EV_FAILED:
            self.log.error("cloud", "the reply failed: %s %s" % (event.code, event.msg))
            self._end_of_reply(S.E_CLOUD_ERROR)
        elif kind == C.EV_ERROR:
            self._cloud_error(event)
        elif kind == C.EV_TOOL_CALL:
            outputs = self.tools.dispatch(event.tool_calls or ())
            self.log.info("tool", ", ".join("%s -> %s" % (c.name, out) for c, (_, out) in
                                            zip(event.tool_calls or (), outputs)))
            await self.send_all((self.session.submit_tool_outputs(event.chat_id, outputs),))
        elif kind == C.EV_TRANSCRIPT and event.text:
            self.log.info("you", event.text)
        elif kind == C.EV_MESSAGE_DONE and event.text and event.msg_type == "answer":
            self.log.info("bot", event.text)

    def _end_of_reply(self, state_event):
        self._turn_audio = False
        self.idle = True
        self.queue.post(state_event)

    def _cloud_error(self, event):
        from cloud.errors import ACT_FATAL, ACT_IGNORE

        action, hint = event.action, event.hint
        if action is None:
            from cloud.errors import action_for

            action, hint = action_for(event.code)
        line = "error %s: %s (%s)" % (event.code, event.msg, hint)
        if action == ACT_IGNORE:
            self.log.debug("cloud", line)
            return
        self.log.error("cloud", line)
        self.idle = True
        self.queue.post(S.E_AUTH_FAILED if action == ACT_FATAL else S.E_CLOUD_ERROR, line)

    async def _play(self, event):
        if event.stale:
            return  # late audio of a reply the user interrupted
        player = self.player
        mv = self._chunk_mv
        room = len(self._chunk)
        if event.audio_len > room:
            # Played in pieces: check all of its base64 first, so a corrupt delta is dropped
            # whole (ProtocolError) rather than half-played. One chunk needs no extra pass: its
            # only read_audio() fails before anything reaches the player.
            event.verify(mv)
        clears = player.stats["clears"]
        while True:
            if player.room() < room:
                await player.wait_room(room)  # a coroutine costs heap: only when it must wait
            if player.stats["clears"] != clears:
                return  # a barge-in cleared the player meanwhile: the rest of this reply is old
            n = event.read_audio(mv)
            if not n:
                break
            # Full chunks reuse the one view; only a delta's last, shorter piece is sliced.
            player.write(mv if n == room else mv[:n])
        if not self._turn_audio:
            self._turn_audio = True
            self.idle = False
            if self.trace is not None:
                self.trace("first_audio", "")
            self._on_audio_start()


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
