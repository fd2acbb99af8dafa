# `make bench` rows of the whole audio pipeline under real MicroPython (WebAssembly, no viper):
# heap per uplink frame and per downlink delta along the app's own code, the receive pipeline's
# peak live heap while a session is replayed through it, and CPU time against naive code.
#
# What runs is what the device runs: the AudioPath, CozeChat session, Link and WebSocket the
# runner builds from a config (firmware/app/runner.py), on board esp32s3_inmp441, with in-memory
# stand-ins only where the device has hardware or a socket:
# - MicBus / SpeakerBus: I2S buses on the host stream contract (tools/hostcompat.py). The speaker
#   bus has the two 256-frame DMA buffers boards.tx_ibuf() asks for and plays them out at the
#   bus rate, SPEED times faster than real time (memory does not depend on the clock's speed).
# - ServerStream: the server's end of the socket. It turns the received messages of a capture
#   into unmasked WebSocket frames and hands them out as fast as the client reads (or at the
#   limit_config pace the config asks the server for).
# The naive baselines are the usual MicroPython way: struct + list for 32 -> 16 bit, json.dumps /
# json.loads, binascii, generator masking, concatenation. This tier's binascii is a frozen
# pure-Python module where the ESP32's is C, so the naive paths use CBinascii below: it returns
# the right bytes, allocates one result object as the C function does, and costs a copy. That
# makes the naive rows cheaper than on this port's real binascii (the comparison stays fair).
import asyncio
import gc
import json
import struct
import time

import b64
import config
from app import audio_path
from app.audio_path import AudioPath
from app.cloud_session import make_session
from app.downlink import Downlink as AppDownlink
from app.events import EventQueue
from app.link import Link
from app.log import Log
from bench_ws import naive_send
from cloud import coze_chat  # noqa: F401 - code is loaded before any heap baseline
from websock import TEXT, WebSocket
from websock import frame as wsframe

import boards
import mptest
from audio import pcm

CHAT = mptest.path("/shared/fixtures/coze-go/websocket_chat_success.txt")
DEFAULT_SESSION = mptest.path("/tests/data/bench/default_session.txt")
BOARD = "esp32s3_inmp441"
SPEED = 4  # speaker and pacing clock: audio seconds per real second
# The device holds no whole message (lib/websock recv_part: 2 KB parts; the session's walker
# keeps a 4 KB shrunk copy of each event): the same config takes the capture's bursty ~20 KB
# messages as it takes paced ones.
_FRAMES = 20
_SAMPLE_EVERY = 16384  # the meter also samples after every this many bytes read in a message
# The capture has no chat.updated (coze-go's test sent no chat.update): the server's answer to
# the device's chat.update goes in after chat.created, as the real server sends it.
_UPDATED = b'{"event_type":"chat.updated","id":"bench","data":{"output_audio":{"codec":"pcm",' \
           b'"pcm_config":{"sample_rate":24000}}}}'


def device_config(**over):
    raw = {"wifi_ssid": "bench", "token": "bench-token", "bot_id": "7400000000000000000",
           "board": BOARD}
    raw.update(over)
    return config.validate(raw)


class MicBus:
    # A quiet INMP441: 24-bit samples left-justified in 32-bit slots, one DMA buffer per read.
    def readinto_nowait(self, buf):
        n = min(len(buf), 2048)
        for i in range(0, n, 4):
            buf[i] = 0
            buf[i + 1] = 0x40
            buf[i + 2] = (i >> 2) & 0x3F
            buf[i + 3] = 0
        return n

    def wait_ms(self):
        return 1

    def deinit(self):
        pass


class VClock:
    """Real milliseconds minus the time the heap meter spent collecting: the speaker and the
    pacing stand still while a sample is taken, so measuring does not drain the player."""

    def __init__(self):
        self.paused = 0

    def ms(self):
        return time.ticks_add(time.ticks_ms(), -self.paused)


class SpeakerBus:
    def __init__(self, fmt, clock=None):
        self._clock = clock or VClock()
        self.rate = fmt["rate"]
        self._fb = fmt.get("bits", 16) // 8 * fmt.get("channels", 1)
        self._cap = boards.tx_ibuf(fmt.get("bits", 16), fmt.get("channels", 1))
        self._fill = 0
        self._t = self._clock.ms()
        self.played = 0

    def _play(self):
        now = self._clock.ms()
        ms = time.ticks_diff(now, self._t)
        if ms > 0:
            self._t = now
            gone = ms * SPEED * self.rate // 1000 * self._fb
            self._fill = self._fill - gone if self._fill > gone else 0

    def write_nowait(self, buf):
        self._play()
        n = min(len(buf), self._cap - self._fill)
        n -= n % self._fb
        self._fill += n
        self.played += n
        return n

    def wait_ms(self):
        return 1

    def deinit(self):
        pass


class Source:
    """The received messages of a capture ("send"/"receive" lines, each followed by one JSON
    line), held in one buffer loaded before anything is measured; next() returns a memoryview
    of the next received message, so serving one allocates only that view."""

    def __init__(self, data, insert_after=None, insert=None):
        self.data = data
        self._mv = memoryview(data)
        self._pos = 0
        self._after = insert_after
        self._insert = memoryview(insert) if insert is not None else None
        self._pending = None
        self.largest = 0
        self.start = self.end = 0  # of the last message in data (-1 for an inserted one)

    def rewind(self):
        self._pos = 0
        self._pending = None
        self.start = self.end = 0

    @classmethod
    def load(cls, path, insert_after=None, insert=None):
        with open(path, "rb") as f:
            return cls(f.read(), insert_after, insert)

    def _line(self):
        start = self._pos
        if start >= len(self.data):
            return -1, -1
        end = self.data.find(b"\n", start)
        if end < 0:
            end = len(self.data)
        self._pos = end + 1
        return start, end

    def next(self):
        if self._pending is not None:
            mv, self._pending = self._pending, None
            self.start = self.end = -1
            return mv
        receive = False
        while True:
            start, end = self._line()
            if start < 0:
                return None
            if end - start == 7 and self.data.startswith(b"receive", start):
                receive = True
                continue
            if end - start == 4 and self.data.startswith(b"send", start):
                receive = False
                continue
            if not receive:
                continue
            self.start, self.end = start, end
            if end - start > self.largest:
                self.largest = end - start
            if self._after is not None and self.data.find(self._after, start, end) >= 0:
                self._pending = self._insert
            return self._mv[start:end]

    def is_audio(self):
        return self.start >= 0 and \
            self.data.find(b"conversation.audio.delta", self.start, self.end) > 0

    def audio_span(self):
        """(start, end) of the last message's base64 audio in data."""
        key = self.data.find(b'"content"', self.start, self.end)
        start = self.data.find(b'"', self.data.find(b":", key + 9, self.end), self.end) + 1
        return start, self.data.find(b'"', start, self.end)


class ServerStream:
    """The socket as the client sees it: readinto() serves the source's messages as server
    frames; write() takes what the client sends (counted, not kept). meter.boundary() is
    awaited before each message, when the previous one has been handled (the client reads again
    only then)."""

    def __init__(self, source, meter=None, pace=None, clock=None):
        self._clock = clock or VClock()
        self.out_buf = b""
        self.sent = 0
        self.messages = 0
        self.audio_bytes = 0  # decoded size of every audio delta served
        self.eof = False
        self._src = source
        self._meter = meter
        self._hdr = bytearray(10)
        self._parts = [None, None]  # [header view, payload view]
        self._at = 0
        self._pace = pace  # (period ms, frames) of limit_config, or None
        self._window = 0
        self._count = 0
        self._since = 0  # bytes served since the meter last sampled

    async def _next_message(self):
        self._parts[1] = None
        if self._meter is not None:
            await self._meter.boundary()
        src = self._src
        msg = src.next()
        if msg is None:
            self.eof = True
            if self._meter is not None:
                self._meter.end()
            return False
        if src.is_audio():
            start, end = src.audio_span()
            self.audio_bytes += b64.decoded_len(src.data, start, end)
            if self._pace is not None:
                await self._admit()
        h = wsframe.write_header(self._hdr, 10, 0x80 | TEXT, len(msg), False)
        self._parts[0] = memoryview(self._hdr)[h:]
        self._parts[1] = msg
        self._at = 0
        self.messages += 1
        return True

    async def _admit(self):
        # Fixed windows from the first frame, at most `frames` per window (the cloud's pacing).
        period = self._pace[0] // SPEED
        now = self._clock.ms()
        if self._count == 0 and self._window == 0:
            self._window = now
        if time.ticks_diff(now, self._window) >= period:
            self._window = now
            self._count = 0
        if self._count >= self._pace[1]:
            await asyncio.sleep_ms(period - time.ticks_diff(now, self._window))
            self._window = self._clock.ms()
            self._count = 0
        self._count += 1

    async def readinto(self, mv):
        parts = self._parts
        if parts[1] is None and (self.eof or not await self._next_message()):
            return 0
        part = parts[0] if self._at < len(parts[0]) else parts[1]
        at = self._at if part is parts[0] else self._at - len(parts[0])
        k = min(len(mv), len(part) - at)
        mv[:k] = part[at:at + k]
        self._at += k
        self._since += k
        if self._meter is not None and self._since >= _SAMPLE_EVERY:
            # Inside a long message too: a client that held messages whole would peak here.
            self._since = 0
            await self._meter.boundary()
        if self._at == len(parts[0]) + len(parts[1]):
            parts[1] = None
        return k

    def write(self, buf):
        self.sent += len(buf)

    async def drain(self):
        pass

    def close(self):
        pass

    async def wait_closed(self):
        pass


class CBinascii:
    """binascii as the ESP32's C module behaves on this benchmark's fixed inputs."""

    def __init__(self):
        self._pairs = []

    def learn(self, src, out):
        self._pairs.append((src, bytearray(out)))  # (bytes(a bytes) would not copy)

    def _lookup(self, src):
        for known, out in self._pairs:
            if known == src:
                return bytes(out)  # the C function allocates one result object
        raise ValueError("CBinascii: input not learned")

    def b2a_base64(self, data):
        return self._lookup(data)

    def a2b_base64(self, text):
        return self._lookup(text)


class TierBinascii:
    """This port's own binascii (frozen Python); its a2b_base64 takes bytes only."""

    def __init__(self):
        import binascii

        self._b = binascii

    def b2a_base64(self, data):
        return self._b.b2a_base64(data)

    def a2b_base64(self, text):
        return self._b.a2b_base64(text.encode() if isinstance(text, str) else text)


def _b64(data):
    out = bytearray(b64.encoded_len(len(data)))
    b64.encode_into(data, len(data), out, 0)
    return out


def _unb64(text):
    raw = text.encode() if isinstance(text, str) else text
    out = bytearray(b64.decoded_len(raw, 0, len(raw)))
    b64.decode_into(raw, 0, len(raw), out, 0)
    return out


def _speaker(board, cfg, clock=None):
    # The bus as board.build(machine, speaker_rate=cfg["out_rate"]) makes it.
    fmt = dict(board.SPEAKER)
    fmt["rate"] = boards.speaker_bus_rate(cfg["out_rate"], board.SPEAKER["rate"])
    return SpeakerBus(fmt, clock) if clock is not None else SpeakerBus(fmt), fmt["rate"]


def _build_audio(cfg):
    board = boards.load(cfg["board"])
    bus, rate = _speaker(board, cfg)
    hw = {"mic_i2s": MicBus(), "speaker_i2s": bus, "speaker_rate": rate, "button": None,
          "led": None}
    session = make_session(cfg, cfg["mode"], log=_quiet)
    return AudioPath(board, hw, cfg, session.audio_frame), session


def _quiet(line):
    pass


def _slots(samples):
    raw = bytearray(4 * samples)
    for i in range(samples):
        struct.pack_into("<i", raw, 4 * i, ((i * 2654435761) & 0xFFFFFF) - 0x800000 << 8)
    return raw


# ---- uplink -----------------------------------------------------------------------------------


class Uplink:
    """Ours: the raw slot buffer -> AudioPath (the app's uplink code) -> ws.send_inplace."""

    def __init__(self, codec):
        cfg = device_config(codec=codec)
        self.audio, self.session = _build_audio(cfg)
        mic = self.audio.mic
        self.samples = mic.frame_samples
        self.raw = _slots(self.samples)
        self.stream = ServerStream(None)
        self.ws = WebSocket(self.stream)
        self.codec_bytes = cfg["in_rate"] // 50 * (2 if codec == "pcm" else 1)

    def frame(self, vad=True):
        a = self.audio
        # Mic.read_frame's step: the AGC's conversion (config mic_agc, the default), or the shift
        if a.agc is not None:
            a.agc.process(self.raw, a.frame, self.samples)
        else:
            pcm.s32_to_s16(self.raw, a.frame, self.samples, a.mic.shift)
        if vad:
            a.speech_now = a.vad.process(a.frame, self.samples)
            a.echo.process(a.agc.level if a.agc is not None else 0)
        buf, n = a.frame_payload()
        self.ws.send_inplace(buf, n, TEXT)  # a finished awaitable: the socket took it all

    def frames(self, count):
        for _ in range(count):
            self.frame(False)


class NaiveUplink:
    def __init__(self, raw, shift, binascii):
        self.raw = raw
        self.n = len(raw) // 4
        self.shift = shift
        self.seq = 0
        self.stream = ServerStream(None)
        self.b = binascii
        binascii.learn(self._pcm(), _b64(self._pcm()) + b"\n")

    def _pcm(self):
        s = self.shift
        values = struct.unpack("<%di" % self.n, self.raw)
        return struct.pack("<%dh" % self.n,
                           *[max(-32768, min(32767, v >> s)) for v in values])

    def frame(self):
        self.seq += 1
        delta = self.b.b2a_base64(self._pcm()).decode().strip()
        msg = json.dumps({"id": str(self.seq), "event_type": "input_audio_buffer.append",
                          "data": {"delta": delta}})
        naive_send(self.stream, TEXT, msg.encode())

    def frames(self, count):
        for _ in range(count):
            self.frame()


def _per_frame_alloc(fn, count):
    fn(1)  # warm-up: cached views, first-call state
    return mptest.alloc(fn, count) / count


def test_uplink_alloc():
    ours = Uplink("pcm")
    ours.frame()
    per = mptest.alloc(ours.frame) + mptest.alloc(ours.frame)
    total = _per_frame_alloc(ours.frames, _FRAMES)
    what = ("20 ms mic frame from the 32-bit slot buffer: AGC (or s32_to_s16), VAD, echo guard, "
            "AudioPath.frame_payload (base64 + JSON in place), send_inplace masking; %s; "
            "real app code, board %s")
    mptest.bench("uplink_frame_alloc_bytes", max(per / 2, total), "B", "== 0",
                 what=what % ("16 kHz PCM", BOARD))
    g711 = Uplink("g711a")
    g711.frame()
    per711 = mptest.alloc(g711.frame) + mptest.alloc(g711.frame)
    mptest.bench("uplink_frame_alloc_bytes_g711", per711 / 2, "B", "== 0",
                 what=what % ("resampled to 8 kHz, G.711 A-law", BOARD))
    naive = NaiveUplink(ours.raw, ours.audio.mic.shift, CBinascii())
    mptest.bench("uplink_frame_alloc_bytes_naive", round(_per_frame_alloc(naive.frames, 5)), "B",
                 what="the same frame the usual way: struct + list 32->16, json.dumps, "
                      "b2a_base64 (C model), generator masking, header + key + data")
    ours.stream.sent = 0
    ours.frames(50)
    wire = ours.stream.sent
    mptest.bench("wire_overhead_ratio", round(wire / (ours.codec_bytes * 50 * 4 / 3), 4), "x",
                 "<= 1.10", what="bytes the uplink wrote to the socket in 1 s (50 frames, "
                 "16 kHz PCM) / (PCM bytes x 4/3)")
    g711.stream.sent = 0
    g711.frames(50)
    mptest.bench("wire_overhead_ratio_g711_measured",
                 round(g711.stream.sent / (g711.codec_bytes * 50 * 4 / 3), 4), "x",
                 what="the same for 8 kHz G.711 A-law (report: 160-byte frames carry "
                      "the same JSON and header bytes)")
    assert per == 0 and per711 == 0


async def test_uplink_alloc_with_io():
    # The same frame as the app's uplink task runs it, awaits included: Mic.read_frame through
    # the stream reader, and send_inplace's awaitable (report: the coroutine objects).
    ours = Uplink("pcm")

    async def one():
        await ours.audio.read_frame()
        buf, n = ours.audio.frame_payload()
        await ours.ws.send_inplace(buf, n, TEXT)

    await one()
    await one()
    sizes = []
    for _ in range(3):
        sizes.append(await mptest.alloc_async(one))
    mptest.bench("uplink_frame_alloc_bytes_with_await", max(sizes), "B",
                 what="one uplink frame with its awaits (Mic.read_frame over 2 KB DMA reads, "
                      "send_inplace): coroutine objects only; the data path allocates 0")


# ---- downlink ---------------------------------------------------------------------------------


def list_source(lines):
    return Source(b"receive\n" + b"\nreceive\n".join(lines) + b"\n")


def _big_deltas(count):
    """The capture's first `count` deltas of 14,400 audio bytes (300 ms at 24 kHz)."""
    src = Source.load(CHAT)
    out = []
    while len(out) < count:
        msg = src.next()
        if msg is None:
            break
        if src.is_audio():
            start, end = src.audio_span()
            if end - start == 19200:
                out.append(bytes(msg))
    return out


class Downlink:
    """Ours: a received delta -> session.feed -> the app's Link dispatch -> Player (24 kHz)."""

    def __init__(self, lines):
        cfg = device_config(out_rate=24000)
        # Nothing plays during these rows (the ring is emptied between deltas), so the ring must
        # hold a whole 14,400-byte delta; on the device the play task drains it as it arrives.
        saved, audio_path._BUFFER_MS = audio_path._BUFFER_MS, 1000
        try:
            self.audio, self.session = _build_audio(cfg)
        finally:
            audio_path._BUFFER_MS = saved
        self.player = self.audio.player
        self.lines = lines
        self.link = _link(self.session, None, cfg, self.player)
        self.link.downlink.sink.player = self.player
        self.frames = [wsframe.encode(TEXT, line) for line in lines]
        self.ws = WebSocket(ServerStream(list_source(lines)))
        self.got = 0

    async def take_next(self):
        # The receive task's body for one message, as the device runs it: the WebSocket's
        # parts walked by the session, the audio streamed into the player.
        await self.link.downlink.receive_message(self.ws)
        self.got += 1

    async def frames_through(self):
        # CPU rows: every frame through a fresh client and the app's receive path, the ring
        # emptied after each message.
        self.ws = WebSocket(ServerStream(list_source(self.lines)))
        for _ in self.frames:
            await self.take_next()
            self.player.clear()


def _link(session, connect, cfg, player):
    # The app's Link and its receive task's body, as the Controller wires them.
    queue = EventQueue()
    log = Log(sink=_quiet)
    link = Link(session, log, queue, connect, cfg["token"])
    link.downlink = AppDownlink(session, link, queue, log, None)
    link.downlink.player = player
    return link


class NaiveDownlink:
    def __init__(self, player, frames, binascii):
        self.player = player
        self.frames = frames
        self.b = binascii
        for data in frames:
            msg = json.loads(self.recv(data))
            binascii.learn(msg["data"]["content"], _unb64(msg["data"]["content"]))

    def recv(self, data):
        # A client that reads the header, then readexactly(n): a new bytes per message.
        n = data[1] & 0x7F
        off = 2
        if n == 126:
            n = struct.unpack(">H", data[2:4])[0]
            off = 4
        elif n == 127:
            n = struct.unpack(">Q", data[2:10])[0]
            off = 10
        return bytes(data[off:off + n])

    def take(self, payload):
        msg = json.loads(payload)
        self.player.write(self.b.a2b_base64(msg["data"]["content"]))

    def frames_through(self):
        for data in self.frames:
            self.take(self.recv(data))
            self.player.clear()


def _skip_rows(keys, reason):
    # make bench shows these rows as skipped (value None) instead of failing without them.
    for key, unit, target in keys:
        mptest.bench(key, None, unit, target, what="skipped: " + reason)
    mptest.skip(reason)


async def test_downlink_alloc():
    if mptest.SHARED is None:
        _skip_rows((("downlink_delta_alloc_bytes", "B", "<= 2048"),
                    ("downlink_delta_alloc_bytes_naive", "B", None)),
                   "../shared/fixtures is absent (the rows replay the coze-go capture)")
    lines = _big_deltas(2)
    down = Downlink(lines)
    await down.take_next()  # warm-up: the first reply's start, cached views
    down.player.clear()
    ours = await mptest.alloc_async(down.take_next)
    assert down.player.stats["bytes_in"] == 2 * 14400
    mptest.bench("downlink_delta_alloc_bytes", ours, "B", "<= 2048",
                 what="the capture's 14,400-byte conversation.audio.delta from the socket "
                      "into the 24 kHz player: the app's Downlink.receive_message (WebSocket "
                      "parts, the session's walker, base64 decoded as it streams, player.write)")
    down.player.clear()
    naive = NaiveDownlink(down.player, down.frames[1:], CBinascii())
    data = naive.recv(down.frames[1])
    naive_alloc = mptest.alloc(naive.take, data)
    mptest.bench("downlink_delta_alloc_bytes_naive", naive_alloc, "B",
                 what="the same delta the usual way: json.loads of the payload + a2b_base64 "
                      "(C model: one 14,400-byte result) + player.write")


# ---- CPU: one second of duplex audio ------------------------------------------------------------


async def _ms_per_call(fn, is_async=False):
    # Best of 3; each run repeats the call until it spans >= 150 ms (this port's clock ticks in
    # whole milliseconds).
    best = None
    for _ in range(3):
        reps = 0
        t0 = time.ticks_ms()
        while True:
            if is_async:
                await fn()
            else:
                fn()
            reps += 1
            ms = time.ticks_diff(time.ticks_ms(), t0)
            if ms >= 150:
                break
        per = ms / reps
        best = per if best is None else min(best, per)
    return best


async def test_cpu_ratio():
    if mptest.SHARED is None:
        _skip_rows((("pipeline_cpu_ratio_vs_naive", "x", None),),
                   "../shared/fixtures is absent (the downlink half replays the capture)")
    up = Uplink("pcm")
    naive_up = NaiveUplink(up.raw, up.audio.mic.shift, CBinascii())
    lines = _big_deltas(3)
    down = Downlink(lines)
    naive_down = NaiveDownlink(down.player, down.frames, CBinascii())
    per_second = 24000 * 2 / (14400 * len(lines))  # 1 s of 24 kHz reply audio

    def ours_up():
        up.frames(50)

    def naive_up_50():
        naive_up.frames(50)

    ours_u = await _ms_per_call(ours_up)
    ours_d = per_second * await _ms_per_call(down.frames_through, True)
    assert down.got > 0 and down.player.stats["bytes_in"] > 0
    naive_u = await _ms_per_call(naive_up_50)
    naive_d = per_second * await _ms_per_call(naive_down.frames_through)
    ours, naive = ours_u + ours_d, naive_u + naive_d
    what = ("1 s of duplex audio (50 uplink frames of 16 kHz PCM + 1 s of 24 kHz reply deltas "
            "with WebSocket decode): ours %.0f ms (up %.0f, down %.0f), naive %.0f ms (up %.0f, "
            "down %.0f). Ours runs its viper kernels as plain Python on this tier; the naive "
            "path's json is C and its binascii is modelled as C"
            % (ours, ours_u, ours_d, naive, naive_u, naive_d))
    # The same naive code on this port's real (pure-Python) binascii, for the other extreme.
    naive_up.b = naive_down.b = TierBinascii()
    tier = await _ms_per_call(naive_up_50) + per_second * await _ms_per_call(
        naive_down.frames_through)
    mptest.bench("pipeline_cpu_ratio_vs_naive_tier_binascii", round(tier / ours, 2), "x",
                 what="naive on this tier's pure-Python binascii (%.0f ms) / ours" % tier)
    mptest.bench("pipeline_cpu_ratio_vs_naive", round(naive / ours, 2), "x", what=what)
    mptest.bench("pipeline_cpu_ms_per_s", round(ours, 1), "ms",
                 what="ours, the CPU time behind the ratio above (WebAssembly, no viper)")
    mptest.bench("pipeline_cpu_ms_per_s_naive", round(naive, 1), "ms",
                 what="naive, the CPU time behind the ratio above")


# ---- peak live heap of the receive pipeline ---------------------------------------------------


class Meter:
    """The heap (gc.mem_alloc() after gc.collect()) sampled at message boundaries, and every
    _SAMPLE_EVERY bytes inside a message.

    The reader stops at each boundary until the test's own coroutine has sampled. On the
    WebAssembly port gc.collect() only requests a collection, which runs when control next
    returns to JavaScript (ports/webassembly/main.c; tools/bench/mp/devmeter.py has the
    details): a sample therefore also counts the garbage made since the previous boundary, at
    most one message's worth, and the figures err high by that. The test's coroutine sleeps on
    an Event meanwhile: each suspension of this port's top-level coroutine keeps ~30 bytes
    until V8 collects (tests/mp/test_soak_ptt.py's header has the measurement), so it does not
    poll (what it keeps, one per message, is counted too)."""

    def __init__(self, clock):
        self.clock = clock
        self.top = 0
        self.samples = 0
        self.ended = False
        self._reached = asyncio.Event()
        self._go = asyncio.Event()

    async def boundary(self):
        self._go.clear()
        self._reached.set()
        await self._go.wait()

    def end(self):
        self.ended = True
        self._reached.set()

    def sample(self):
        t0 = time.ticks_ms()
        gc.collect()
        used = gc.mem_alloc()
        self.clock.paused += time.ticks_diff(time.ticks_ms(), t0)
        self.samples += 1
        if used > self.top:
            self.top = used

    async def run(self):
        """Sample at every boundary until the stream ends."""
        while True:
            await self._reached.wait()
            self._reached.clear()
            if self.ended:
                return
            self.sample()
            self._go.set()


async def _flush_wait_for():
    ev = asyncio.Event()
    ev.set()
    await asyncio.wait_for_ms(ev.wait(), 1000)


async def idle_heap(rounds=6):
    """The heap with nothing running: the lowest of a few readings between sleeps (on the
    WebAssembly port a collection requested by gc.collect() runs only at the next sleep).

    This port's scheduler keeps the last task that waited in asyncio.wait_for_ms referenced
    until another one does (Link.connect is one: that pins a whole pipeline), so a throw-away
    wait_for_ms runs first."""
    asyncio.create_task(_flush_wait_for())
    low = None
    for _ in range(rounds):
        await asyncio.sleep_ms(2)
        gc.collect()
        used = gc.mem_alloc()
        low = used if low is None else min(low, used)
    return low


_PEAK_RUNS = 3  # a sample counts the garbage since the previous boundary (see Meter), which
# varies a little with timing, so the row is the median of three replays' peaks


async def peak_heap(cfg, source, paced):
    """replay() and its peak live heap above the heap without the pipeline (measured before it
    is built and after it is gone; the lower counts: leftovers only ever inflate it). The median
    of _PEAK_RUNS replays; r["peaks"] lists them all."""
    peaks = []
    for _ in range(_PEAK_RUNS):
        source.rewind()
        before = await idle_heap()
        r = await replay(cfg, source, paced)
        r["base"] = min(before, await idle_heap())
        peaks.append(r["top"] - r["base"])
    peaks.sort()
    r["peaks"] = peaks
    r["peak"] = peaks[len(peaks) // 2]
    return r


async def replay(cfg, source, paced):
    """Build the receive pipeline as the runner does, feed it `source`, return its figures."""
    board = boards.load(cfg["board"])
    clock = VClock()
    meter = Meter(clock)
    bus, rate = _speaker(board, cfg, clock)
    hw = {"mic_i2s": MicBus(), "speaker_i2s": bus, "speaker_rate": rate, "button": None,
          "led": None}
    session = make_session(cfg, cfg["mode"], log=_quiet)
    audio = AudioPath(board, hw, cfg, session.audio_frame)
    pace = None
    if paced:
        limit = session.config["output_audio"]["pcm_config"]["limit_config"]
        pace = (limit["period"] * 1000, limit["max_frame_num"])
    stream = ServerStream(source, meter, pace, clock)

    async def connect(url, headers):
        return WebSocket(stream)

    link = _link(session, connect, cfg, audio.player)
    audio.player.start()
    t0 = time.ticks_ms()
    # link.connect() in a task: this port's top-level coroutine cannot be woken by wait_for_ms.
    asyncio.create_task(link.connect())
    await meter.run()
    while audio.player.buffered_ms() > 0:
        assert time.ticks_diff(time.ticks_ms(), t0) < 120000, "the player did not drain"
        await asyncio.sleep_ms(20)
    meter.sample()
    ring = audio_path._BUFFER_MS * rate // 1000 * 2
    out = {"top": meter.top, "samples": meter.samples, "messages": stream.messages,
           "largest": source.largest, "audio_in": stream.audio_bytes,
           "player_in": audio.player.stats["bytes_in"], "played": hw["speaker_i2s"].played,
           "underruns": audio.player.stats["underruns"], "ring": ring,
           "ms": time.ticks_diff(time.ticks_ms(), t0)}
    link.deinit()
    audio.deinit()
    return out


def _replay_what(r, what):
    return ("%s: %d messages (largest %d B), %d audio bytes into the player, after gc.collect() "
            "at each message boundary, median of %d replays %s; includes the WebSocket's 2 KB "
            "part buffer, the session's 4 KB event copy, player ring %d B "
            "(%d ms at the speaker rate)" % (what, r["messages"], r["largest"], r["player_in"],
                                               len(r["peaks"]), r["peaks"], r["ring"],
                                               audio_path._BUFFER_MS))


async def replay_peak_heap_row():
    if mptest.SHARED is None:
        _skip_rows((("replay_peak_heap_bytes", "B", "<= 98304"),),
                   "../shared/fixtures is absent (the row replays the coze-go capture)")
    cfg = device_config(out_rate=24000)
    source = Source.load(CHAT, b'"event_type":"chat.created"', _UPDATED)
    r = await peak_heap(cfg, source, False)
    assert r["player_in"] == r["audio_in"] > 400000, r
    mptest.bench("replay_peak_heap_bytes", r["peak"], "B", "<= 98304",
                 what=_replay_what(r, "coze-go chat capture (24 kHz, bursty) fed as fast as "
                                      "the pipeline takes it: WebSocket -> CozeChat -> Link -> "
                                      "Player -> speaker I2S (%s)" % BOARD))


async def default_config_peak_heap_row():
    cfg = device_config()
    source = Source.load(DEFAULT_SESSION)
    r = await peak_heap(cfg, source, True)
    assert r["player_in"] == r["audio_in"] > 100000, r
    mptest.bench("default_config_peak_heap_bytes", r["peak"], "B", "<= 49152",
                 what=_replay_what(r, "default config (16 kHz PCM out, 50 ms frames, paced by "
                                      "limit_config 22/s), fake-cloud session "
                                      "tests/data/bench/default_session.txt, board %s (its "
                                      "speaker bus runs at the 16 kHz downlink rate)" % BOARD))


def _sized_source(b64_bytes, total_b64):
    """A reply of audio deltas of b64_bytes base64 characters each (total_b64 in all), with
    the chat events around them, in the capture's format. Built in place (a megabyte delta
    must not exist three times over while it is made)."""
    head = (b'{"event_type":"chat.created","id":"s1","detail":{"logid":"bench"}}', _UPDATED,
            b'{"event_type":"conversation.chat.created","id":"s2","data":{"id":"c1",'
            b'"conversation_id":"v1","status":"created"}}')
    pre = (b'{"event_type":"conversation.audio.delta","id":"s3","data":{"id":"m1","role":'
           b'"assistant","type":"answer","content":"')
    post = b'","content_type":"audio","chat_id":"c1"}}'
    done = (b'{"event_type":"conversation.chat.completed","id":"s4","data":{"id":"c1",'
            b'"conversation_id":"v1","status":"completed"}}')
    count = max(1, total_b64 // b64_bytes)
    chars = b64_bytes // 4 * 4
    size = sum(9 + len(x) for x in head) + count * (9 + len(pre) + chars + len(post)) + 9 + \
        len(done)
    data = bytearray(size)
    pcm = bytearray(3072)
    pos = 0
    for msg in head + (None,) * count + (done,):
        data[pos:pos + 8] = b"receive\n"
        pos += 8
        if msg is not None:
            data[pos:pos + len(msg)] = msg
            pos += len(msg)
        else:
            data[pos:pos + len(pre)] = pre
            pos += len(pre)
            for at in range(0, chars, 4096):
                n = min(4096, chars - at) // 4 * 3
                for i in range(n):
                    pcm[i] = (at + i * 29) & 0xFF
                pos += b64.encode_into(pcm, n, data, pos)
            data[pos:pos + len(post)] = post
            pos += len(post)
        data[pos] = 10
        pos += 1
    return Source(bytes(data))


SIZES_KB = (2, 20, 200, 1024)


async def downlink_by_message_size_rows():
    # The same default config and the same pipeline; only the size of the server's audio
    # messages changes. On the device nothing holds a message whole, so the peak must not move.
    cfg = device_config(out_rate=24000)
    peaks = []
    for kb in SIZES_KB:
        source = _sized_source(kb * 1024, 400 * 1024)
        r = await peak_heap(cfg, source, False)
        assert r["player_in"] == r["audio_in"] > 250000, r
        peaks.append(r["peak"])
        mptest.bench("downlink_peak_heap_bytes_%dk" % kb, r["peak"], "B", None,
                     what=_replay_what(r, "audio deltas of %d KB of base64, unpaced" % kb))
    spread = max(peaks) - min(peaks)
    mptest.bench("downlink_peak_heap_by_message_size", spread, "B", "<= 1024",
                 what="spread of the peak heap over deltas of %s KB (peaks %s B): default config "
                      "at 24 kHz, fed as fast as the pipeline takes them"
                      % ("/".join(str(k) for k in SIZES_KB), peaks))
