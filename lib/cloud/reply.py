# The lifecycle of the bot's replies on one connection, for every cloud: the one owner of "does
# a reply run (so a cancel is needed)", "is this audio stale", "did the first audio come", "is
# anything in flight (so a server close is not idle)" and the conversation id.
#
#   IDLE -> TALKING (the user's audio goes out) -> ASKED (turn over: complete / commit /
#   the server's VAD heard the end) -> CREATED (chat / response created) -> AUDIO -> DONE,
#   CANCELLED or FAILED (ended: idle again)
# The session's parser moves it as messages arrive (feed()), the session's cancel() asks it,
# and the app asks it too; nothing else keeps a copy of these flags. reset() starts a new
# connection: whatever was in flight is gone, the conversation carries on.
# Stale audio: drop() marks the current reply unwanted (a barge-in, a cancel, an error, the
# server's own interruption); its late audio, which can still be on the wire, is then dropped
# by id. Audio without an id belongs to the current reply.
from micropython import const

IDLE = const(0)
TALKING = const(1)
ASKED = const(2)
CREATED = const(3)
AUDIO = const(4)
DONE = const(5)
CANCELLED = const(6)
FAILED = const(7)


class Reply:
    def __init__(self):
        self.conversation_id = None  # the bot's memory of this talk: kept across connections
        self.reset()

    def reset(self):
        self.state = IDLE
        self.id = None  # chat_id / response_id of the current reply
        self.chat = False  # the reply runs inside a chat (not a bare generate_audio)
        self.dropped = False  # drop() was called for `dropped_id`
        self.dropped_id = None
        self.cancel_sent = False  # a cancel went out and has had no answer yet

    # -- asked by the app and the session -------------------------------------------------------

    def running(self):
        """A reply is under way on the cloud (or about to be): stopping it needs a cancel."""
        return self.state == ASKED or (self.chat and (self.state == CREATED
                                                      or self.state == AUDIO))

    def idle(self):
        """Nothing in flight: a server close now is an idle close, not a dropped link."""
        return self.state == IDLE or self.state >= DONE

    def cancel_answered(self):
        """An error arrived: True when it is the answer to a cancel that found nothing to stop
        (the cancel crossed the reply's end on the wire), which is harmless."""
        if self.cancel_sent and not self.running():
            self.cancel_sent = False
            return True
        return False

    def stale(self, stream_id):
        if not self.dropped:
            return False
        return (self.id if stream_id is None else stream_id) == self.dropped_id

    # -- moved by the uplink --------------------------------------------------------------------

    def talking(self):
        # Per mic frame sent: an attribute store, no allocation.
        if self.state == IDLE or self.state >= DONE:
            self.state = TALKING

    def asked(self):
        if self.state < CREATED or self.state >= DONE:
            self.state = ASKED

    def cancel(self):
        """The device stops the reply: True when the cloud must be told (a cancel is due)."""
        needed = self.running()
        if needed:
            self.drop()
            self.state = CANCELLED
            self.chat = False
            self.cancel_sent = True
        return needed

    def drop(self):
        # Whatever of the current reply is still to come is not wanted any more.
        self.dropped = True
        self.dropped_id = self.id

    # -- moved by the parser ----------------------------------------------------------------------

    def created(self, reply_id):
        self.state = CREATED
        self.id = reply_id
        self.chat = True
        self.cancel_sent = False

    def audio(self, stream_id):
        """Audio of stream_id arrived (not stale): True when it is the reply's first."""
        if self.state == AUDIO and (stream_id is None or stream_id == self.id):
            return False
        if stream_id is not None and stream_id != self.id:
            # Audio with no chat around it (input_text.generate_audio, a greeting).
            self.id = stream_id
            self.chat = False
        self.state = AUDIO
        return True

    def audio_done(self):
        """The bot's audio is complete: True when that also ends the reply (no chat around
        it: a generate_audio reply ends with audio.completed alone)."""
        if self.state != AUDIO or self.chat:
            return False
        self.state = DONE
        return True

    def error(self):
        # The cloud answered with an error (not a harmless one): a turn still waiting for its
        # reply gets none, so there is nothing to cancel any more.
        if self.state == ASKED:
            self.state = FAILED

    def ended(self, state):
        # The cloud ended the reply. A reply the device cancelled, or a new turn the user
        # already speaks, keeps its own state.
        if ASKED <= self.state <= AUDIO:
            self.state = state
        self.chat = False
        if state == CANCELLED:
            self.cancel_sent = False  # a cancel of ours, if any, got its answer
            self.drop()  # the server stopped it: anything of it still on the wire is old
