"""The fake Coze /v1/chat connection: config echo, push-to-talk and server-VAD turns, replies.

Event order and field shapes follow ../shared/fixtures/coze-go/websocket_chat_success.txt. Where
the real server's behaviour is not documented the choice is noted in a comment.
"""

import asyncio
import base64
import copy

from tools.cloud import audio
from tools.cloud.conn import LATE_GAP_S, Conn, Pacer
from tools.cloud.events import CozeChat, coze, coze_error
from tools.cloud.vad import EnergyVad

DEFAULT_CONFIG = {
    "chat_config": {"auto_save_history": True},
    "input_audio": {"format": "pcm", "codec": "pcm", "sample_rate": 24000, "channel": 1,
                    "bit_depth": 16},
    "output_audio": {"codec": "pcm", "pcm_config": {"sample_rate": 24000}, "speech_rate": 0,
                     "voice_id": "7426720361733046281"},
    "turn_detection": {"type": "client_interrupt"},
    "event_subscriptions": [],
}
_BURST_FRAME_MS = 300  # the capture's audio.delta size: 14 400 bytes of 24 kHz PCM


def _merge(base, update):
    # The seed's update rule (coze-realtime-uplink-events.txt, session.update): a field that is
    # sent is changed, an empty value too; a field that is left out keeps its value. So a
    # chat.update without turn_detection leaves server_vad on, and {} resets a section.
    for key, value in update.items():
        if isinstance(value, dict) and value and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


class CozeChatConn(Conn):
    cloud_name = "coze.chat"

    def __init__(self, cloud, ws, path, query):
        Conn.__init__(self, cloud, ws, path, query)
        self.config = copy.deepcopy(DEFAULT_CONFIG)
        self.bot_id = query.get("bot_id", "")
        self.conversation_id = self.config["chat_config"].get("conversation_id") or \
            self.ids.numeric()
        self.turn = None  # the running reply task
        self.chat = None  # the running chat's ids
        self.uplink = []  # decoded int16 chunks since the last complete/clear
        self.vad = None
        self.tool_future = None
        self.turns = 0
        self.wire = None  # (chat, frames, next index) of the reply being sent, for late frames

    async def send_error(self, code, msg):
        await self.send(coze_error(self.ids, code, msg))

    async def on_open(self):
        await self.send(coze(self.ids, "chat.created"))
        if not await self.inject("connect"):
            return
        if not self.bot_id:
            # The real server's answer to a missing bot_id is not documented; 4000 is its
            # "bad parameter" code.
            await self.send_error(4000, "fake cloud: bot_id is missing from the query")

    # -- uplink -----------------------------------------------------------------------------

    async def on_message(self, msg):
        etype = msg.get("event_type")
        data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
        handler = _HANDLERS.get(etype)
        if handler is None:
            await self.send_error(4000, "fake cloud: unknown event_type %r" % etype)
            return
        await handler(self, data)

    async def _update(self, data):
        # A refused update changes nothing (the server answers error instead of chat.updated).
        config = copy.deepcopy(self.config)
        _merge(config, data)
        out = config["output_audio"]
        if out.get("codec") in ("g711a", "g711u"):
            out.setdefault("pcm_config", {})["sample_rate"] = 8000  # G.711 output is 8 kHz
        for section, key in (("input_audio", "codec"), ("output_audio", "codec")):
            if config[section].get(key) not in audio.CODECS:
                await self.send_error(
                    4000, "fake cloud: %s.codec %r unsupported (use pcm, g711a or g711u)"
                    % (section, config[section].get(key)))
                return
        voice = out.get("voice_id")
        if self.opts.voices is not None and voice not in self.opts.voices:
            # The real server's text for an unknown voice is not documented; 4000 is its
            # "bad parameter" code, and the message names the field as Coze's do.
            await self.send_error(4000, "invalid parameter output_audio.voice_id: voice %r "
                                  "not found" % (voice,))
            return
        self.config = config
        conversation = (config.get("chat_config") or {}).get("conversation_id")
        if conversation:
            self.conversation_id = conversation  # the device resumes its conversation
        self.subscriptions = set(self.config.get("event_subscriptions") or ()) or None
        vad_cfg = self.config.get("turn_detection") or {}
        self.session.header["mode"] = "free" if vad_cfg.get("type") == "server_vad" else "ptt"
        self.vad = None
        if vad_cfg.get("type") == "server_vad":
            self.vad = EnergyVad(int(self.config["input_audio"].get("sample_rate", 24000)),
                                 self.opts.vad_threshold_dbfs,
                                 int(vad_cfg.get("silence_duration_ms", 500)))
        if not await self.inject("update"):
            return
        await self.send(coze(self.ids, "chat.updated", copy.deepcopy(self.config)))
        if self.config.get("need_play_prologue"):
            self._start(self._speak, self.opts.greeting_text, chat=False)

    async def _append(self, data):
        try:
            raw = base64.b64decode(data.get("delta", ""), validate=True)
            samples = audio.decode(raw, self.config["input_audio"].get("codec", "pcm"))
        except ValueError as e:
            await self.send_error(4000, "fake cloud: bad input_audio_buffer.append: %s" % e)
            return
        self.uplink.append(samples)
        if self.vad is None:
            return
        for edge in self.vad.feed(samples):
            if edge == "start":
                await self.send(coze(self.ids, "input_audio_buffer.speech_started"))
                if self.turn is not None:
                    await self._cancel_turn(1, "user speech interrupted the answer")
            else:
                await self.send(coze(self.ids, "input_audio_buffer.speech_stopped"))
                self.uplink = []
                self._start(self._reply)

    async def _complete(self, data):
        if not await self.inject("complete"):
            return
        await self.send(coze(self.ids, "input_audio_buffer.completed"))
        heard = sum(len(c) for c in self.uplink)
        self.uplink = []
        if self.vad is not None:
            return  # in server_vad the server decides when a turn ends
        if self.turn is not None:
            await self.send_error(4016, "fake cloud: a chat is already running; cancel it first")
            return
        if heard == 0:
            await self.send_error(4000, "fake cloud: input_audio_buffer.complete with no audio")
            return
        self._start(self._reply)

    async def _clear(self, data):
        self.uplink = []
        if self.vad is not None:
            self.vad.reset()
        await self.send(coze(self.ids, "input_audio_buffer.cleared"))

    async def _cancel(self, data):
        # Sent even when nothing runs: a device's cancel can cross chat.completed on the wire.
        await self._cancel_turn(2, "client canceled the chat")

    async def _conversation_clear(self, data):
        await self._cancel_turn(None, "")
        self.conversation_id = self.ids.numeric()
        await self.send(coze(self.ids, "conversation.cleared"))

    async def _message_create(self, data):
        if data.get("role", "user") != "user":
            return
        self._start(self._reply, question=str(data.get("content", "")))

    async def _generate_audio(self, data):
        text = data.get("text", "")
        if len(text.encode()) >= 1024:
            await self.send_error(4000, "fake cloud: generate_audio text over 1024 bytes")
            return
        self._start(self._speak, text or self.opts.reply_text, chat=False)

    async def _tool_outputs(self, data):
        fut = self.tool_future
        if fut is None or fut.done() or data.get("chat_id") != (self.chat and self.chat.id):
            await self.send_error(4000, "fake cloud: no chat is waiting for tool outputs")
            return
        fut.set_result(data.get("tool_outputs") or [])

    # -- downlink turns -----------------------------------------------------------------------

    def _start(self, fn, *args, **kw):
        async def guarded():
            try:
                await fn(*args, **kw)
            finally:
                if asyncio.current_task() is self.turn:
                    self.turn = None

        if self.turn is not None:
            self.turn.cancel()
        self.turn = self.spawn(guarded())

    async def _cancel_turn(self, code, msg):
        task, self.turn = self.turn, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self._late_frames()
        if code is not None:
            await self.send(coze(self.ids, "conversation.chat.canceled",
                                 {"code": code, "msg": msg}))

    async def _late_frames(self):
        # What was on the wire when the reply was stopped still reaches the device.
        wire, self.wire = self.wire, None
        if wire is None or not self.opts.late_frames:
            return
        chat, frames, n = wire
        for frame in frames[n:n + self.opts.late_frames]:
            await asyncio.sleep(LATE_GAP_S)
            await self.send(coze(self.ids, "conversation.audio.delta", chat.message(
                "assistant", "answer", base64.b64encode(frame).decode(), "audio")))

    async def send_canceled(self, bare):
        # The cloud stops the reply by itself (its turn task returns after this); code 1 is
        # "user speech", the reason a real server cancels without being asked.
        await self._late_frames()
        data = None if bare else {"code": 1, "msg": "fake cloud: injected cancel"}
        await self.send(coze(self.ids, "conversation.chat.canceled", data))

    async def _reply(self, question=None):
        self.turns += 1
        chat = self.chat = CozeChat(self.ids, self.bot_id, self.conversation_id)
        question = question if question is not None else self.opts.transcript
        await self.send(coze(self.ids, "conversation.message.completed",
                             chat.message("user", "question", question,
                                          message_id=self.ids.numeric())))
        if not await self.inject("turn"):
            return
        await self.send(coze(self.ids, "conversation.chat.created", chat.chat("created")))
        await self.send(coze(self.ids, "conversation.chat.in_progress", chat.chat("in_progress")))
        if self.opts.tool_call is not None and not await self._ask_tool(chat):
            return
        await asyncio.sleep(self.opts.think_s)
        if not await self._speak(self.opts.reply_text, chat=chat):
            return
        await self.send(coze(self.ids, "conversation.chat.completed", chat.chat(
            "completed", completed_at=self.ids.now_ms() // 1000,
            usage={"token_count": 45, "output_count": 28, "input_count": 17})))
        await self.inject("done")

    async def _ask_tool(self, chat):
        name, args = self.opts.tool_call
        call_id = self.ids.numeric()
        call = {"id": call_id, "type": "function",
                "function": {"name": name, "arguments": _json(args)}}
        self.tool_future = self.loop.create_future()
        await self.send(coze(self.ids, "conversation.chat.requires_action", chat.chat(
            "requires_action",
            required_action={"type": "submit_tool_outputs",
                             "submit_tool_outputs": {"tool_calls": [call]}})))
        outputs = await self.tool_future
        self.tool_outputs = outputs
        if not any(o.get("tool_call_id") == call_id for o in outputs):
            await self.send_error(4000, "fake cloud: tool_outputs lack tool_call_id %s" % call_id)
            return False
        await self.send(coze(self.ids, "conversation.chat.in_progress", chat.chat("in_progress")))
        return True

    async def _speak(self, text, chat):
        """Text deltas, sentence starts and paced audio for `text`; False if cut short."""
        chat = chat or CozeChat(self.ids, "0", "0")
        out = self.config["output_audio"]
        codec = out.get("codec", "pcm")
        rate = int((out.get("pcm_config") or {}).get("sample_rate", 24000))
        pcm_cfg = out.get("pcm_config") or {}
        limit = {} if self.opts.burst else (pcm_cfg.get("limit_config") or {})
        frame_ms = int(pcm_cfg.get("frame_size_ms") or (20 if limit else _BURST_FRAME_MS))
        samples = self.cloud.reply_audio(rate)
        encoded = audio.encode(samples, codec)
        step = max(1, rate * frame_ms // 1000) * audio.bytes_per_sample(codec)
        if self.opts.delta_bytes:
            step = self.opts.delta_bytes // audio.bytes_per_sample(codec) * \
                audio.bytes_per_sample(codec)
        frames = [encoded[i:i + step] for i in range(0, len(encoded), step)]
        sentences = _sentences(text)
        pacer = Pacer(self, limit.get("period"), limit.get("max_frame_num"))
        per = max(1, -(-len(frames) // len(sentences)))
        n = 0
        for index, sentence in enumerate(sentences):
            if chat.bot_id != "0":
                for piece in _pieces(sentence):
                    await self.send(coze(self.ids, "conversation.message.delta",
                                         chat.message("assistant", "answer", piece)))
            await self.send(coze(self.ids, "conversation.audio.sentence_start",
                                 {"text": sentence}))
            if index == 0 and self.opts.big_text_bytes:
                big = ("长答案" * self.opts.big_text_bytes)[:self.opts.big_text_bytes // 3]
                await self.send(coze(self.ids, "conversation.message.delta",
                                     chat.message("assistant", "answer", big)))
            if chat.bot_id != "0" and index == len(sentences) - 1:
                await self.send(coze(self.ids, "conversation.message.completed",
                                     chat.message("assistant", "answer", text)))
                await self.send(coze(self.ids, "conversation.message.completed", chat.message(
                    "assistant", "verbose", '{"msg_type":"generate_answer_finish","data":'
                    '"{\\"finish_reason\\":0,\\"FinData\\":\\"\\"}","from_module":null,'
                    '"from_unit":null}', message_id=self.ids.numeric())))
            for frame in frames[index * per:(index + 1) * per]:
                self.wire = (chat, frames, n)
                n += 1
                if not await self.inject("audio:%d" % n):
                    return False
                t = await pacer.admit()
                await self.send(coze(self.ids, "conversation.audio.delta", chat.message(
                    "assistant", "answer", base64.b64encode(frame).decode(), "audio")), t=t)
                self.wire = (chat, frames, n)
                await asyncio.sleep(0)  # let uplink (cancel) in between frames
        self.wire = None
        await self.send(coze(self.ids, "conversation.audio.completed",
                             chat.message("assistant", "answer", "", "audio")))
        return True


def _json(value):
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _sentences(text):
    out, cur = [], ""
    for ch in text:
        cur += ch
        if ch in ".!?。！？":
            out.append(cur.strip())
            cur = ""
    if cur.strip():
        out.append(cur.strip())
    return out or [text]


def _pieces(sentence):
    words = sentence.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


_HANDLERS = {
    "chat.update": CozeChatConn._update,
    "input_audio_buffer.append": CozeChatConn._append,
    "input_audio_buffer.complete": CozeChatConn._complete,
    "input_audio_buffer.clear": CozeChatConn._clear,
    "conversation.chat.cancel": CozeChatConn._cancel,
    "conversation.clear": CozeChatConn._conversation_clear,
    "conversation.message.create": CozeChatConn._message_create,
    "conversation.chat.submit_tool_outputs": CozeChatConn._tool_outputs,
    "input_text.generate_audio": CozeChatConn._generate_audio,
}
