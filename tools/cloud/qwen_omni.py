"""The fake Qwen-Omni realtime connection (DashScope /api-ws/v1/realtime).

session.created on connect, session.update -> session.updated with the effective session;
manual turns (turn_detection null): input_audio_buffer.commit -> committed, response.create ->
a response; server VAD (the default when turn_detection is absent): speech_started /
speech_stopped / committed then a response. response.cancel ends the running response with
response.done status "cancelled", or an error when none runs, as the client-event docs say.
Input is pcm16 at 16 kHz; output pcm24 (24 kHz) or pcm16 (16 kHz).
"""

import asyncio
import base64
import copy

from tools.cloud import audio
from tools.cloud.conn import LATE_GAP_S, Conn
from tools.cloud.events import qwen, qwen_error
from tools.cloud.vad import EnergyVad

_IN_RATE = 16000
_OUT_RATES = {"pcm24": 24000, "pcm16": 16000}
_FRAME_MS = 100


class QwenOmniConn(Conn):
    cloud_name = "qwen.omni"

    def __init__(self, cloud, ws, path, query):
        Conn.__init__(self, cloud, ws, path, query)
        self.config = {
            "id": "sess_" + self.ids.uuid().replace("-", "")[:20],
            "model": query.get("model", "qwen3-omni-flash-realtime"),
            "modalities": ["text", "audio"], "voice": "Chelsie",
            "input_audio_format": "pcm16", "output_audio_format": "pcm24",
            "turn_detection": {"type": "server_vad", "threshold": 0.5,
                               "silence_duration_ms": 800},
        }
        self.buffer = []
        self.vad = None
        self.response = None
        self.wire = None  # (response id, item, pcm, step, next offset) for late frames
        self._configure_vad()

    async def send_error(self, code, msg):
        await self.send(qwen_error(self.ids, code, msg))

    def _configure_vad(self):
        td = self.config.get("turn_detection")
        self.vad = None
        if td:
            self.vad = EnergyVad(_IN_RATE, self.opts.vad_threshold_dbfs,
                                 int(td.get("silence_duration_ms", 800)))

    async def on_open(self):
        await self.send(qwen(self.ids, "session.created", session=copy.deepcopy(self.config)))
        await self.inject("connect")

    async def on_message(self, msg):
        etype = msg.get("type")
        if etype == "session.update":
            session = msg.get("session") or {}
            fmt = session.get("output_audio_format", self.config["output_audio_format"])
            if fmt not in _OUT_RATES:
                await self.send_error("invalid_value", "output_audio_format %r" % fmt)
                return
            voice = session.get("voice", self.config["voice"])
            if self.opts.voices is not None and voice not in self.opts.voices:
                # The shape of the server docs' example error: type, code, message, param.
                await self.send(qwen_error(self.ids, "invalid_value", "Invalid voice %r"
                                           % (voice,), param="session.voice"))
                return
            self.config.update(copy.deepcopy(session))
            self._configure_vad()
            if await self.inject("update"):
                await self.send(qwen(self.ids, "session.updated",
                                     session=copy.deepcopy(self.config)))
        elif etype == "input_audio_buffer.append":
            await self._append(msg.get("audio", ""))
        elif etype == "input_audio_buffer.commit":
            if not self.buffer:
                await self.send_error("invalid_value", "input audio buffer is empty")
                return
            if await self.inject("complete"):
                await self._commit()
        elif etype == "input_audio_buffer.clear":
            self.buffer = []
            await self.send(qwen(self.ids, "input_audio_buffer.cleared"))
        elif etype == "response.create":
            self._respond()
        elif etype == "response.cancel":
            if self.response is None:
                await self.send_error("invalid_value", "no response to cancel")
            else:
                await self._cancel()
        else:
            await self.send_error("invalid_value", "unknown event type %r" % etype)

    async def _append(self, b64):
        try:
            samples = audio.decode(base64.b64decode(b64, validate=True), "pcm")
        except ValueError as e:
            await self.send_error("invalid_value", "bad audio: %s" % e)
            return
        self.buffer.append(samples)
        if self.vad is None:
            return
        for edge in self.vad.feed(samples):
            ms = self.vad.windows * 20
            if edge == "start":
                # speech_started first, then the interrupted response ends (the OpenAI-style
                # order; frames still on the wire arrive in between, see CloudOptions).
                await self.send(qwen(self.ids, "input_audio_buffer.speech_started",
                                     audio_start_ms=ms, item_id=self._item()))
                if self.response is not None:
                    await self._cancel()
            else:
                await self.send(qwen(self.ids, "input_audio_buffer.speech_stopped",
                                     audio_end_ms=ms, item_id=self._item()))
                await self._commit()
                self._respond()

    def _item(self):
        return "item_" + self.ids.uuid().replace("-", "")[:20]

    async def _commit(self):
        self.buffer = []
        await self.send(qwen(self.ids, "input_audio_buffer.committed", item_id=self._item()))

    def _respond(self):
        if self.response is not None:
            self.response.cancel()
        self.response_id = "resp_" + self.ids.uuid().replace("-", "")[:20]
        self.response = self.spawn(self._run_response(self.response_id))

    async def _cancel(self):
        task, self.response = self.response, None
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await self._late_frames()
        await self._cancelled()

    async def _cancelled(self):
        await self.send(qwen(self.ids, "response.done", response={
            "id": self.response_id, "object": "realtime.response", "status": "cancelled"}))

    async def _late_frames(self):
        # What was on the wire when the response was stopped still reaches the device.
        wire, self.wire = self.wire, None
        if wire is None or not self.opts.late_frames:
            return
        rid, item, pcm, step, i = wire
        for k in range(self.opts.late_frames):
            chunk = pcm[i + k * step:i + (k + 1) * step]
            if chunk:
                await asyncio.sleep(LATE_GAP_S)
                await self.send(qwen(self.ids, "response.audio.delta", response_id=rid,
                                     item_id=item, output_index=0, content_index=0,
                                     delta=base64.b64encode(chunk).decode()))

    async def send_canceled(self, bare):
        # The cloud stops the response by itself (the response task returns after this).
        await self._late_frames()
        await self._cancelled()

    async def _run_response(self, rid):
        try:
            resp = {"id": rid, "object": "realtime.response", "status": "in_progress"}
            await self.send(qwen(self.ids, "response.created", response=resp))
            if not await self.inject("turn"):
                return
            await asyncio.sleep(self.opts.think_s)
            item = self._item()
            text = self.opts.reply_text
            for word in text.split(" "):
                await self.send(qwen(self.ids, "response.audio_transcript.delta", response_id=rid,
                                     item_id=item, output_index=0, content_index=0,
                                     delta=word + " "))
            rate = _OUT_RATES[self.config["output_audio_format"]]
            pcm = audio.encode(self.cloud.reply_audio(rate), "pcm")
            step = rate * _FRAME_MS // 1000 * 2
            for n, i in enumerate(range(0, len(pcm), step)):
                self.wire = (rid, item, pcm, step, i)
                if not await self.inject("audio:%d" % (n + 1)):
                    return
                await self.send(qwen(self.ids, "response.audio.delta", response_id=rid,
                                     item_id=item, output_index=0, content_index=0,
                                     delta=base64.b64encode(pcm[i:i + step]).decode()))
                self.wire = (rid, item, pcm, step, i + step)
                # Qwen's pacing is undocumented: stream `qwen_speed` x real time (burst: no wait).
                pause = _FRAME_MS / 1000 / self.opts.qwen_speed
                await asyncio.sleep(0 if self.opts.burst else pause)
            self.wire = None
            await self.send(qwen(self.ids, "response.audio.done", response_id=rid, item_id=item))
            await self.send(qwen(self.ids, "response.audio_transcript.done", response_id=rid,
                                 item_id=item, transcript=text))
            resp = dict(resp, status="completed")
            await self.send(qwen(self.ids, "response.done", response=resp))
        finally:
            if self.response is asyncio.current_task():
                self.response = None
