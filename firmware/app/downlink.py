# The receive task's body: each server message goes through the session's parser and then, by
# its event kind, to the player or to the state machine (a table: one line per kind to add).
#
# Audio is written to the player in _CHUNK pieces, each one waiting for room first, so a server
# that bursts is slowed by TCP flow control instead of growing the heap. Audio of a reply the
# device no longer wants (session.reply.stale: a barge-in, a cancel, the server's own
# interruption) is not played, also when the drop happens while a delta waits for room.
# Handlers never change the state: they post events, or return a coroutine that sends.
from cloud import base as C

from app import state as S

_CHUNK = 1024  # decoded audio moved per await: small, and the receive path stays responsive


class Downlink:
    def __init__(self, session, link, queue, log, tools, trace=None):
        self.session = session
        self.link = link
        self.queue = queue
        self.log = log
        self.tools = tools
        self.trace = trace  # simulator hook; None on the device
        self.player = None  # set by the app before the first connect
        self._chunk = bytearray(_CHUNK)
        self._chunk_mv = memoryview(self._chunk)

    async def run(self, ws):
        session = self.session
        while True:
            _, payload = await ws.recv()
            try:
                event = session.feed(payload)
                await self.handle(event)
            except ValueError as exc:  # ProtocolError, a malformed message: say so, go on
                self.log.warn("cloud", str(exc))

    async def handle(self, event):
        """One parsed event: audio into the player, anything else through the table."""
        if event.kind == C.EV_AUDIO:
            await self._play(event)
            return
        handler = _HANDLERS[event.kind]
        if handler is None:
            return
        if isinstance(handler, int):
            self.queue.post(handler)  # the kind maps to a state-machine event, nothing more
            return
        if isinstance(handler, str):
            sending = getattr(self.link, handler)(event)  # the link's job (errors, config)
        else:
            sending = handler(self, event)
        if sending is not None:
            await sending

    async def _play(self, event):
        reply = self.session.reply
        if event.stale:
            return  # late audio of a reply the device or the cloud interrupted
        player = self.player
        mv = self._chunk_mv
        room = len(self._chunk)
        if event.audio_len > room:
            # Played in pieces: check all of its base64 first, so a corrupt delta is dropped
            # whole (ProtocolError) rather than half-played. One chunk needs no extra pass: its
            # only read_audio() fails before anything reaches the player.
            event.verify(mv)
        while True:
            if player.room() < room:
                await player.wait_room(room)  # a coroutine costs heap: only when it must wait
                if reply.stale(event.stream_id):
                    return  # dropped meanwhile (a barge-in): the rest of this reply is old
            n = event.read_audio(mv)
            if not n:
                break
            # Full chunks reuse the one view; only a delta's last, shorter piece is sliced.
            player.write(mv if n == room else mv[:n])
        if reply.audio(event.stream_id):
            if self.trace is not None:
                self.trace("first_audio", "")
            self.queue.post(S.E_AUDIO)  # the reply's first audio reached the player

    async def _run_tools(self, event):
        calls = event.tool_calls or ()
        outputs = self.tools.dispatch(calls)
        self.log.info("tool", ", ".join("%s -> %s" % (c.name, out) for c, (_, out) in
                                        zip(calls, outputs)))
        await self.link.send_all((self.session.submit_tool_outputs(event.chat_id, outputs),))


def _speech_started(dl, event):
    dl.queue.post(S.E_SPEECH_STARTED)
    if dl.trace is not None:
        dl.trace("speech_started", "")


def _audio_done(dl, event):
    # Audio with no chat around it (input_text.generate_audio, the greeting) ends with
    # audio.completed alone; inside a chat, chat.completed ends the turn.
    if event.final:
        dl.queue.post(S.E_TURN_DONE)


def _tool_call(dl, event):
    return dl._run_tools(event)


def _said(dl, event):
    # What the user said (the transcript) and what the bot answered, one line each.
    if event.text and (event.kind == C.EV_TRANSCRIPT or event.msg_type == "answer"):
        dl.log.info("you" if event.kind == C.EV_TRANSCRIPT else "bot", event.text)


# event kind -> handler(downlink, event); the state-machine event it posts as it is (int); or
# the name of the Link method that takes it (str: the handshake, errors). None: nothing to do.
_HANDLERS = [None] * len(C.KIND_NAMES)
_HANDLERS[C.EV_CREATED] = "created"  # the handshake's config message goes out
_HANDLERS[C.EV_READY] = "configured"
_HANDLERS[C.EV_SPEECH_STARTED] = _speech_started
_HANDLERS[C.EV_SPEECH_STOPPED] = S.E_SPEECH_STOPPED
_HANDLERS[C.EV_TURN_DONE] = S.E_TURN_DONE
_HANDLERS[C.EV_AUDIO_DONE] = _audio_done
_HANDLERS[C.EV_CANCELED] = S.E_CANCELED
_HANDLERS[C.EV_FAILED] = "reply_failed"
_HANDLERS[C.EV_ERROR] = "cloud_error"
_HANDLERS[C.EV_TOOL_CALL] = _tool_call
_HANDLERS[C.EV_TRANSCRIPT] = _said
_HANDLERS[C.EV_MESSAGE_DONE] = _said
_HANDLERS = tuple(_HANDLERS)
