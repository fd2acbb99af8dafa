# Where a streaming audio delta goes: its base64 characters, as they arrive, are decoded
# (cloud.delta.B64Stream) and written into the player, held there until the message has shown
# that the audio is wanted and whole.
#
# What "stale" and "corrupt" mean when a message is never held whole (a bounded look-back):
# - The audio is written held: in the player's ring, not playable yet. At the end of the message
#   it is committed if the reply is still wanted (reply.stale(its stream id): Coze sends the
#   chat_id after the audio) and the base64 was good to its last byte; else it is rolled back.
#   A delta that fits the ring's free room is therefore checked whole, before any of it plays.
# - A delta too large for that (the ring has no room for the next piece: a burst, or one huge
#   delta) is committed as far as it came: the player must play to make room, and TCP holds the
#   server back meanwhile. Only an audio type commits (the type came before the audio field), and
#   only audio the reply wants as far as the message has shown (its stream id if it came, else
#   the current reply). A bad byte after that drops the rest of the delta only: base64 decodes
#   quad by quad, so what played before it was the server's audio, exactly.
# - A field whose message type has not come yet (mode BOTH) may be text: it is never committed
#   early; if it outgrows the room it is dropped, and said so.
# - Between pieces the reply may be dropped (a barge-in): the rest of the delta is dropped then.
from cloud import jscan
from cloud.delta import B64Stream

PIECE_BYTES = 768  # decoded bytes per step: 1024 base64 characters


class AudioSink:
    def __init__(self, session):
        self.session = session
        self.player = None  # set by the downlink before the first message
        self.b64 = B64Stream()
        self._out = bytearray(PIECE_BYTES)
        self._mv = memoryview(self._out)
        self.reset()

    def reset(self):
        """A new message."""
        self.active = False  # this message's audio is being written
        self.known = None  # the message is audio (True), or its type has not come (None)
        self.seen = False  # the message had an audio field
        self.dropped = False  # the rest of this delta is not played
        self.why = None  # what was wrong with it, to tell the user (None: stale, said nothing)
        self.fresh = False  # audio was committed early: the reply's first audio may be here

    # -- the walker's sink interface (cloud/jscan.py) ----------------------------------------

    def start(self):
        known = self.session.audio_type_now()
        if known is False:
            return jscan.COPY
        self.seen = True
        self.known = known
        self.b64.reset()
        self.active = True
        self.player.hold()
        return jscan.AUDIO if known else jscan.BOTH

    def take(self, buf, a, b):
        if not self.active:
            return b
        if self.known and self.session.stale_now():
            self._drop(None)  # a barge-in while the delta streamed: the rest is old
            return b
        player = self.player
        b64 = self.b64
        mv = self._mv
        while a < b:
            if player.room() < PIECE_BYTES:
                if not self.known:
                    self._drop("audio came before its event type and outgrew the player")
                    return b
                player.commit()  # too large to hold: play what came, wait for room
                player.hold()
                self.fresh = True
                return a
            a = b64.take(buf, a, b, self._out)
            if b64.error is not None:
                self._drop(b64.error)
                return b
            n = b64.out
            if n:
                player.write(mv if n == PIECE_BYTES else mv[:n])
        return b

    def invalid(self):
        # An escape that base64 cannot hold: audio it is not (BOTH: it was text after all).
        if self.active:
            self._drop("base64: an escape inside the audio" if self.known else None)

    def end(self):
        if self.active and not self.b64.close():
            self._drop(self.b64.error)

    # -- the downlink's side -----------------------------------------------------------------

    def finish(self, wanted):
        """The message ended: commit the held audio if it is wanted and whole, else drop it.
        True when some of it was committed."""
        player = self.player
        if not self.active:
            player.rollback()
            return False
        self.active = False
        if wanted and not self.dropped:
            some = player.held() > 0
            player.commit()
            return some
        player.rollback()
        return False

    def _drop(self, why):
        self.active = False
        if not self.dropped:
            self.dropped = True
            self.why = why
        self.player.rollback()
