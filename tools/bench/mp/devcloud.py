# The cloud end of an in-memory WebSocket for the device benchmarks, under MicroPython: what
# websock.connect would return on the board, minus DNS, TCP, TLS and the HTTP upgrade (the
# WebAssembly port has no sockets). connect(url, headers) hands the app the real
# websock.client.WebSocket, with the receive buffer firmware/app/runner.make_connect gives it,
# over a ServerStream that replays a recorded session ("send"/"receive" lines, each followed by
# one JSON line; tests/data/bench/default_session.txt) as the server would:
#   on connect: the messages before the device's first send (chat.created);
#   on chat.update: what the session received after its chat.update (chat.updated);
#   on every input_audio_buffer.complete: the reply (one push-to-talk turn), its audio deltas
#   paced by the session's own limit_config (at most FRAMES per PERIOD_MS, as Coze paces).
# The session is loaded once, before the benchmark's baseline; serving a message allocates one
# memoryview. The client's masked frames are parsed as they are written: header, mask, then the
# payload unmasked into a fixed buffer, 64 bytes of it for an audio append (whose event type
# comes first: the app builds that frame from a fixed prefix), the whole message otherwise (the
# app's json.dumps may put the event type last).
import asyncio
import time

_SCRATCH = 2048
_PEEK = 64
_APPEND = b"input_audio_buffer.append"
_TYPES = (b"chat.update", b"input_audio_buffer.complete")
_NEEDLES = tuple(b'"event_type":"' + t + b'"' for t in _TYPES)


def load(path):
    """{key: [memoryview of each message]}: key None = before any send, else the send's
    event type (bytes) the messages answered."""
    with open(path, "rb") as f:
        data = f.read()
    mv = memoryview(data)
    groups = {None: []}
    key = None
    receive = False
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line = mv[pos:end]
        if end - pos == 7 and data.startswith(b"receive", pos):
            receive = True
        elif end - pos == 4 and data.startswith(b"send", pos):
            receive = False
        elif end > pos and receive:
            groups[key].append(line)
        elif end > pos:
            for t, needle in zip(_TYPES, _NEEDLES):
                if data.find(needle, pos, end) >= 0:
                    key = t
                    groups[key] = []
        pos = end + 1
    groups["data"] = data  # keeps the buffer the views point into
    return groups


def _is_audio(msg):
    return bytes(msg[:48]).find(b"conversation.audio.delta") >= 0


class ServerStream:
    """The socket as the client sees it (readinto / write / drain / close / out_buf)."""

    def __init__(self, groups, scratch, frames=22, period_ms=1000):
        self.out_buf = b""  # MicroPython Stream's unsent bytes: the socket takes everything
        self._groups = groups
        self._queue = []  # messages due, oldest first
        self._next = 0
        self._wake = asyncio.Event()
        self._hdr = bytearray(10)
        self._hdr_len = 0
        self._msg = None
        self._at = 0
        self.closed = False
        self._frames = frames
        self._period = period_ms
        self._window = 0
        self._count = 0
        # client frame parser
        self._head = bytearray(14)
        self._head_have = 0
        self._mask = bytearray(4)
        self._left = 0  # payload bytes of the current client frame still to come
        self._seen = 0  # payload bytes of it seen so far
        self._limit = _PEEK  # payload bytes of it to unmask
        self._scratch = scratch  # allocated with the Cloud, before the baseline
        self.sent = {}  # event type -> count, for the client's messages we know
        self.messages = 0
        self.turns = 0
        self._queue_group(None)

    def _queue_group(self, key):
        self._queue.extend(self._groups.get(key, ()))
        self._wake.set()

    # -- server -> client ----------------------------------------------------------------

    async def _admit(self):
        # limit_config: fixed windows from the first frame, at most `frames` per window.
        now = time.ticks_ms()
        if self._count == 0 and self._window == 0:
            self._window = now
        if time.ticks_diff(now, self._window) >= self._period:
            self._window = now
            self._count = 0
        if self._count >= self._frames:
            await asyncio.sleep_ms(self._period - time.ticks_diff(now, self._window))
            self._window = time.ticks_ms()
            self._count = 0
        self._count += 1

    async def _next_message(self):
        while self._next >= len(self._queue):
            if self.closed:
                return False
            self._wake.clear()
            await self._wake.wait()
        msg = self._queue[self._next]
        self._next += 1
        if self._next == len(self._queue):
            self._queue.clear()
            self._next = 0
        if _is_audio(msg):
            await self._admit()
        n = len(msg)
        h = self._hdr
        h[0] = 0x81  # FIN + text
        if n < 126:
            h[1] = n
            self._hdr_len = 2
        elif n < 65536:
            h[1] = 126
            h[2] = n >> 8
            h[3] = n & 0xFF
            self._hdr_len = 4
        else:
            h[1] = 127
            for i in range(8):
                h[9 - i] = (n >> (8 * i)) & 0xFF
            self._hdr_len = 10
        self._msg = msg
        self._at = 0
        self.messages += 1
        return True

    async def readinto(self, mv):
        if self._msg is None and not await self._next_message():
            return 0
        hl = self._hdr_len
        if self._at < hl:
            k = min(len(mv), hl - self._at)
            mv[:k] = memoryview(self._hdr)[self._at:self._at + k]
        else:
            at = self._at - hl
            k = min(len(mv), len(self._msg) - at)
            mv[:k] = self._msg[at:at + k]
        self._at += k
        if self._at == hl + len(self._msg):
            self._msg = None
        return k

    # -- client -> server ----------------------------------------------------------------

    def write(self, buf):
        i = 0
        n = len(buf)
        while i < n:
            if self._left == 0 and self._seen == 0:
                i = self._header_byte(buf, i)
                continue
            # payload: unmask what we need into the scratch buffer, skip the rest
            take = min(self._left, n - i)
            if self._seen < self._limit:
                take = min(take, self._limit - self._seen)
                seen, scratch, mask = self._seen, self._scratch, self._mask
                for j in range(take):
                    scratch[seen + j] = buf[i + j] ^ mask[(seen + j) & 3]
            self._seen += take
            self._left -= take
            i += take
            if self._seen == _PEEK and self._left and self._limit == _PEEK:
                if self._scratch.find(_APPEND, 0, _PEEK) < 0:
                    self._limit = _SCRATCH
            if self._left == 0:
                self._on_message(min(self._seen, self._limit))
                self._seen = 0
                self._limit = _PEEK

    def _header_byte(self, buf, i):
        h = self._head
        h[self._head_have] = buf[i]
        self._head_have += 1
        have = self._head_have
        if have < 2:
            return i + 1
        n7 = h[1] & 0x7F
        ext = 2 if n7 == 126 else 8 if n7 == 127 else 0
        if have < 2 + ext + 4:
            return i + 1
        if ext == 0:
            length = n7
        else:
            length = 0
            for k in range(ext):
                length = (length << 8) | h[2 + k]
        for k in range(4):
            self._mask[k] = h[2 + ext + k]
        self._head_have = 0
        self._left = length
        self._seen = 0
        if length == 0:
            self._on_message(0)
        return i + 1

    def _on_message(self, n):
        s = self._scratch
        for t, needle in zip(_TYPES, _NEEDLES):
            if s.find(needle, 0, n) >= 0:
                self.sent[t] = self.sent.get(t, 0) + 1
                if t == _TYPES[1]:
                    self.turns += 1
                self._queue_group(t)
                return

    async def drain(self):
        pass

    def close(self):
        self.closed = True
        self._wake.set()

    async def wait_closed(self):
        pass


class Cloud:
    """connect(url, headers) for app.runner.main: one ServerStream per connection."""

    def __init__(self, groups, frames=22):
        self.groups = groups
        self.frames = frames  # limit_config's frames per second (a huge number: unpaced)
        self.streams = []
        self._scratch = bytearray(_SCRATCH)

    async def connect(self, url, headers):
        # Imported here, after the benchmark's baseline: these are the app's own modules.
        from websock.client import WebSocket

        stream = ServerStream(self.groups, self._scratch, self.frames)
        self.streams.append(stream)
        return WebSocket(stream)  # as runner.make_connect opens it
