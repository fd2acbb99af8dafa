# The device's audio path, built once from the board's format facts and the config:
#   mic (bus rate) -> [resample to in_rate] -> [G.711 encode] -> append frame for the uplink
#   downlink audio -> player (decodes G.711, resamples the answer's rate -> bus rate) -> speaker
# The mic's gain is an AGC (audio/agc.py; config mic_agc) that holds still while the bot talks,
# and the speaker's output is the reference of the echo guard (audio/echo.py), which the uplink
# asks whether a frame is only the bot's echo (mute it) or the user talking over the bot.
# Every buffer is allocated here, at start-up; read_frame()/frame_payload() allocate nothing
# per frame (the uplink benchmark measures the same calls).
from audio import g711, pcm
from audio.agc import Agc
from audio.echo import EchoGuard
from audio.mic import Mic
from audio.pcm import Resampler
from audio.player import Player
from audio.speaker import Speaker
from audio.vad import Vad

FRAME_MS = 20
# Player ring: a paced cloud sends ~1.1x real time, so 300 ms (180 ms past the prefill) rides
# out Wi-Fi jitter; a burst is held back by TCP flow control, not by this buffer. 9.6 KB at
# 16 kHz: on a 100 KB heap every KB here is one the TLS stack cannot have.
_BUFFER_MS = 300
_PREFILL_MS = 120


class AudioPath:
    def __init__(self, board, hw, cfg, session_frame, out_codec=None, out_rate=None):
        # out_codec / out_rate: what the cloud's answers are (the session says; config's codec
        # and out_rate by default). The player decodes and resamples from that to the bus.
        mic_fmt = board.MIC
        spk_fmt = board.SPEAKER
        self._session_frame = session_frame  # callable(payload, nbytes) -> [buf, length]
        shift = mic_fmt.get("shift", 16)
        # The board's shift is the AGC's starting gain (and the fixed gain without it).
        agc = Agc(shift) if cfg.get("mic_agc", True) and mic_fmt["slot_bits"] == 32 else None
        self.mic = Mic(hw["mic_i2s"], rate=mic_fmt["rate"], frame_ms=FRAME_MS,
                       slot_bits=mic_fmt["slot_bits"], shift=shift, agc=agc)
        self.agc = agc
        # Two frame buffers: the mic fills one while `frame` is the last complete 20 ms, which
        # a press sends at once (pre-roll) instead of waiting for the next frame boundary.
        self._frames = (bytearray(self.mic.frame_bytes), bytearray(self.mic.frame_bytes))
        self._filling = 0
        self.frame = self._frames[1]
        self.has_frame = False
        self.in_rate = cfg["in_rate"]
        self._resampler = None
        if self.in_rate != mic_fmt["rate"]:
            self._resampler = Resampler(mic_fmt["rate"], self.in_rate)
            self._resampled = bytearray(2 * self._resampler.max_out(self.mic.frame_samples))
        self.codec = cfg["codec"]
        self._codes = bytearray(self.in_rate * FRAME_MS // 1000 + 8)
        speaker_rate = hw.get("speaker_rate") or spk_fmt["rate"]  # the bus as built
        self.speaker = Speaker(hw["speaker_i2s"], rate=speaker_rate,
                               channels=spk_fmt.get("channels", 1), volume=cfg["volume"],
                               bits=spk_fmt.get("bits", 16))
        self.player = Player(self.speaker, rate=speaker_rate, buffer_ms=_BUFFER_MS,
                             prefill_ms=_PREFILL_MS, codec=out_codec or self.codec,
                             in_rate=out_rate or cfg["out_rate"])
        self.vad = Vad(rate=mic_fmt["rate"], frame_ms=FRAME_MS)
        self.echo = EchoGuard()
        self.speaker.tap = self.echo.reference
        self.speech_now = False
        self._pcm_len = self.mic.frame_bytes

    async def read_frame(self):
        buf = self._frames[self._filling]
        n = await self.mic.read_frame(buf)
        self._filling ^= 1
        self.frame = buf
        self.has_frame = True
        self.speech_now = self.vad.process(buf, n >> 1)
        self.echo.process(self.mic.level)
        if self.agc is not None:
            self.agc.freeze = self.echo.active  # the bot's echo must not move the gain
        return n

    def mute_frame(self):
        """Silence the last frame (the echo guard found only the bot's echo in it)."""
        pcm.scale16(self.frame, self._pcm_len >> 1, 0)

    def frame_payload(self):
        """The last mic frame as an append message: [buf, length] for ws.send_inplace."""
        pcm = self.frame
        n = self._pcm_len
        if self._resampler is not None:
            samples = self._resampler.process(pcm, n >> 1, self._resampled)
            pcm = self._resampled
            n = 2 * samples
        if self.codec == "g711a":
            n = g711.encode_alaw(pcm, self._codes, n >> 1)
            pcm = self._codes
        elif self.codec == "g711u":
            n = g711.encode_ulaw(pcm, self._codes, n >> 1)
            pcm = self._codes
        return self._session_frame(pcm, n)

    def set_volume(self, level):
        self.speaker.set_volume(level)

    def deinit(self):
        self.player.deinit()
        self.mic.deinit()
        self.speaker.deinit()

