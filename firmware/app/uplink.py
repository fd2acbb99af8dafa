# The uplink task: reads 20 ms mic frames forever (so the I2S DMA never overflows) and, while
# the user's turn streams, sends each one as the session's preallocated append frame, masked in
# place (nothing allocated per frame). It owns `streaming`, the pre-roll (a press sends the
# 20 ms heard just before it at once: people start talking as they press) and what the local
# VAD heard during a press (a long press with speech in it is a question, not a mode switch).
# In free talk it also applies the config's `echo` policy to each frame:
#   "aware": the echo guard (audio/echo.py) decides. Frames with only the bot's echo go up as
#            silence; the user talking over the bot goes up as is, and the frame that decides
#            posts E_VOICE_BARGE_IN while the bot speaks (the device stops it at once; the
#            server's later speech_started finds the reply already over).
#   "gate":  no frame goes up while the bot speaks (no barge-in by voice at all).
#   "off":   every frame goes up (the bot hears itself: a loud room interrupts the answer).
from app import state as S

ECHO_MODES = ("aware", "gate", "off")


class Uplink:
    def __init__(self, audio, link, session, sm, echo="aware", trace=None, post=None):
        if echo not in ECHO_MODES:
            raise ValueError("uplink: echo must be one of %s, got %r" % (ECHO_MODES, echo))
        self.audio = audio  # AudioPath: mic frames, VAD, frame encoding
        self.link = link
        self.session = session
        self.sm = sm
        self._gate = echo == "gate"
        self._aware = echo == "aware"
        self._post = post  # the event queue's post (E_VOICE_BARGE_IN)
        self.trace = trace
        self.streaming = False
        self.speech_in_press = False
        self._first = False

    async def start(self):
        # A_START_STREAM: begin the user's turn (it cancels a reply that still runs).
        self.speech_in_press = False
        await self.link.send_all(self.session.begin_turn())
        self.streaming = True
        self._first = True
        if self.audio.has_frame and not self._gated() and not self._muted():
            await self.link.send_audio(self.audio.frame_payload())
            self._sent_first()

    def stop(self):
        self.streaming = False

    def _gated(self):
        # Free talk hears its own speaker; where the config says so, the mic is muted while the
        # bot talks (no echo barge-in, but no voice barge-in either; see README "Free talk").
        return self._gate and self.sm.state == S.SPEAKING

    def _muted(self):
        # "aware" in free talk: only the bot's echo is in this frame. (Push-to-talk streams only
        # while the button is held, and the press has stopped the bot: nothing to tell apart.)
        return self._aware and self.sm.mode == S.MODE_FREE and self.audio.echo.mute

    def _echo_check(self):
        audio = self.audio
        if not (self._aware and self.sm.mode == S.MODE_FREE):
            return
        if audio.echo.barge_in and self.sm.state == S.SPEAKING and self._post is not None:
            self._post(S.E_VOICE_BARGE_IN)
            if self.trace is not None:
                self.trace("voice_barge_in", "")
        if audio.echo.mute and self.streaming:
            audio.mute_frame()

    async def run(self):
        audio = self.audio
        while True:
            await audio.read_frame()
            if audio.speech_now:
                self.speech_in_press = True
            self._echo_check()
            if self.streaming and not self._gated():
                await self.link.send_audio(audio.frame_payload())
                if self._first:
                    self._sent_first()

    def _sent_first(self):
        self._first = False
        if self.trace is not None:
            self.trace("first_append", "")
