# The uplink task: reads 20 ms mic frames forever (so the I2S DMA never overflows) and, while
# the user's turn streams, sends each one as the session's preallocated append frame, masked in
# place (nothing allocated per frame). It owns `streaming`, the pre-roll (a press sends the
# 20 ms heard just before it at once: people start talking as they press) and what the local
# VAD heard during a press (a long press with speech in it is a question, not a mode switch).
from app import state as S


class Uplink:
    def __init__(self, audio, link, session, sm, gate, trace=None):
        self.audio = audio  # AudioPath: mic frames, VAD, frame encoding
        self.link = link
        self.session = session
        self.sm = sm
        self._gate = gate  # config mic_gate_while_speaking
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
        if self.audio.has_frame and not self._gated():
            await self.link.send_audio(self.audio.frame_payload())
            self._sent_first()

    def stop(self):
        self.streaming = False

    def _gated(self):
        # Free talk hears its own speaker; where the config says so, the mic is muted while the
        # bot talks (no echo barge-in, but no voice barge-in either; see README "Free talk").
        return self._gate and self.sm.state == S.SPEAKING

    async def run(self):
        audio = self.audio
        while True:
            await audio.read_frame()
            if audio.speech_now:
                self.speech_in_press = True
            if self.streaming and not self._gated():
                await self.link.send_audio(audio.frame_payload())
                if self._first:
                    self._sent_first()

    def _sent_first(self):
        self._first = False
        if self.trace is not None:
            self.trace("first_append", "")
