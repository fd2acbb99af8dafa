# The receive task's body: each server message goes through the session's parser and then, by
# its event kind, to the player or to the state machine (a table: one line per kind to add).
#
# No message is ever held whole. The socket hands out parts (websock recv_part), the session's
# walker takes them as they come, and an audio delta's base64 streams through the sink
# (app/audio_sink.py) into the player. When the player is full, the walk stops where it is and
# the next part is not read until the speaker has made room: TCP flow control holds the server
# back, whatever size its messages are, and memory stays what it was. Audio of a reply the
# device no longer wants (session.reply.stale: a barge-in, a cancel, the server's own
# interruption) is dropped as it streams. A malformed message is said in one line and skipped
# to its end; the link goes on.
# Handlers never change the state: they post events, or return a coroutine that sends.
from cloud import base as C

from app import state as S
from app.audio_sink import PIECE_BYTES, AudioSink


class Downlink:
    def __init__(self, session, link, queue, log, tools, trace=None):
        self.session = session
        self.link = link
        self.queue = queue
        self.log = log
        self.tools = tools
        self.trace = trace  # simulator hook; None on the device
        self.player = None  # set by the app before the first connect
        self.sink = AudioSink(session)

    async def run(self, ws):
        self.sink.player = self.player
        while True:
            await self.receive_message(ws)

    async def receive_message(self, ws):
        """Walk one message as its parts arrive, then act on it. A malformed one is said in one
        line and skipped to its end."""
        session = self.session
        sink = self.sink
        session.begin()
        sink.reset()
        try:
            while True:
                await ws.recv_part()
                n = ws.part_len
                at = session.feed_part(ws.part, 0, n, sink)
                while at < n:  # the player is full: wait for room, then walk on from there
                    if sink.fresh:
                        self._first_audio()
                    await self.player.wait_room(PIECE_BYTES)
                    at = session.feed_part(ws.part, at, n, sink)
                if sink.fresh:
                    self._first_audio()
                if ws.fin:
                    break
            await self.handle(session.end())
        except ValueError as exc:  # ProtocolError, a malformed message: say so, go on
            sink.finish(False)
            self.log.warn("cloud", str(exc))
            while not ws.fin:
                await ws.recv_part()

    def _first_audio(self):
        # Audio went to the speaker before its message ended (a large delta): the reply speaks.
        self.sink.fresh = False
        self._audio_started(self.session.stream_id_now())

    async def handle(self, event):
        """One parsed event: audio into the player, anything else through the table."""
        if event.kind == C.EV_AUDIO:
            self._play(event)
            return
        self.sink.finish(False)  # a field that looked like audio was text after all
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

    def _play(self, event):
        # The delta has ended: its held audio plays if the reply wants it and it was whole.
        sink = self.sink
        if not sink.seen:
            self.log.warn("cloud", "%s %s: no audio field" % (event.type, event.id))
        elif sink.why is not None:
            self.log.warn("cloud", "%s %s: %s; the rest of this delta is dropped"
                          % (event.type, event.id, sink.why))
        if sink.finish(not event.stale):
            self._audio_started(event.stream_id)

    def _audio_started(self, stream_id):
        if self.session.reply.audio(stream_id):
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
