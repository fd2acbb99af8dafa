"""A fault-injecting TCP proxy for WebSocket links (host tool; tests bind it to 127.0.0.1).

    proxy = await FaultProxy(("127.0.0.1", upstream_port), faults=[
        Fault.parse("rst@down:conversation.audio.delta#3"),
        Fault.parse("refuse:4@down:conversation.audio.delta#3"),
    ]).start()
    ... connect the device to ws://127.0.0.1:<proxy.port> ...
    await proxy.stop()

Each direction's bytes are split into the HTTP head (up to the blank line) and then RFC 6455
frames; client frames are unmasked for matching only, never altered unless a fault says so.
Segments (the head, one frame, or the bytes before a byte trigger) are forwarded one at a time,
in order, so a delay never reorders the stream.

A fault is KIND[:ARG]@WHEN (fires once; `delay` and `refuse` last from their trigger on):
  delay:MS[,JITTER_MS]  every later segment waits MS +- JITTER_MS (both directions)
  stall:SECONDS         nothing moves either way for SECONDS, then the stream resumes
  cut                   drop the trigger frame, close both sides with FIN
  rst                   drop the trigger frame, reset both sides (SO_LINGER 0)
  truncate[:KEEP]       forward the frame with only KEEP (default half) payload bytes and a
                        header rewritten to match: a valid frame carrying a cut-off message
  truncate_raw[:KEEP]   forward the header unchanged and KEEP payload bytes, then carry on: the
                        receiver's framing desynchronises
  flip:utf8|b64|X       change one payload byte: utf8 XORs 0x80 (breaks UTF-8 validity); b64
                        writes '*' mid-way through the base64 of an audio delta (valid JSON,
                        bad base64);
                        X (0-255) XORs that mask into the middle byte
  inject:TEXT           send an extra text frame TEXT to the client (as if from the server)
  refuse:SECONDS        stop listening (new connections get ECONNREFUSED) for SECONDS
WHEN is one of:
  start                 at once (the first segment of the first connection)
  DIR:TEXT[#N]          the N-th (default 1st) frame in direction DIR (up = client->server,
                        down = server->client) whose payload contains TEXT
  DIR:byte:N            the N-th byte (0-based) of DIR, counted per connection from its start
  conn:K                the first segment of connection K (0-based)
Frame counts run over the proxy's whole life, so "#3" means the third such frame ever seen.

usage: python -m tools.faultproxy --upstream 127.0.0.1:8765 [--listen 127.0.0.1:8770]
       [--fault SPEC ...]
"""

import argparse
import asyncio
import random
import socket
import struct
import sys

KINDS = ("delay", "stall", "cut", "rst", "truncate", "truncate_raw", "flip", "inject", "refuse")
_CHUNK = 65536



def _now():
    # The running event loop's clock: time.monotonic() on a plain loop, and the simulation's
    # virtual time on a time-compacting one, so stalls and delays follow the app's timeline.
    return asyncio.get_running_loop().time()

class Fault:
    def __init__(self, kind, arg=None, when="start"):
        if kind not in KINDS:
            raise ValueError("fault kind %r: use one of %s" % (kind, ", ".join(KINDS)))
        self.kind, self.arg, self.when = kind, arg, when
        self.dir = self.text = None
        self.nth = 1
        self.byte = None
        self.conn = None
        if when == "start":
            self.conn = 0
        elif when.startswith("conn:"):
            self.conn = int(when[5:])
        else:
            direction, _, rest = when.partition(":")
            if direction not in ("up", "down") or not rest:
                raise ValueError("fault trigger %r: use start, conn:K, DIR:TEXT[#N] or "
                                 "DIR:byte:N" % when)
            self.dir = direction
            if rest.startswith("byte:"):
                self.byte = int(rest[5:])
            else:
                text, _, nth = rest.rpartition("#") if "#" in rest else (rest, "", "1")
                self.text, self.nth = text.encode(), int(nth)
        self.seen = 0  # matching frames so far
        self.fired_at = None  # _now() (the event loop's clock) when it fired

    @classmethod
    def parse(cls, spec):
        what, _, when = spec.partition("@")
        kind, _, arg = what.partition(":")
        return cls(kind, arg or None, when or "start")

    @property
    def fired(self):
        return self.fired_at is not None

    def __repr__(self):
        return "Fault(%s%s@%s)" % (self.kind, ":" + self.arg if self.arg else "", self.when)


def parse_frame(buf, at=0):
    """(header_len, payload_len, mask_key or None, opcode, fin) of the frame at buf[at:], or None
    while its header is incomplete."""
    if len(buf) - at < 2:
        return None
    b0, b1 = buf[at], buf[at + 1]
    n = b1 & 0x7F
    h = 2
    if n == 126:
        if len(buf) - at < 4:
            return None
        n = struct.unpack_from(">H", buf, at + 2)[0]
        h = 4
    elif n == 127:
        if len(buf) - at < 10:
            return None
        n = struct.unpack_from(">Q", buf, at + 2)[0]
        h = 10
    key = None
    if b1 & 0x80:
        if len(buf) - at < h + 4:
            return None
        key = bytes(buf[at + h:at + h + 4])
        h += 4
    return h, n, key, b0 & 0x0F, bool(b0 & 0x80)


def unmask(payload, key):
    if key is None:
        return bytes(payload)
    k = (key * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(
        len(payload), "big") if payload else b""


def build_frame(opcode, payload, fin=True, key=None):
    """A whole frame (for inject and tests); masked when key is given."""
    n = len(payload)
    head = bytearray([(0x80 if fin else 0) | opcode])
    mbit = 0x80 if key is not None else 0
    if n < 126:
        head.append(mbit | n)
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if key is not None:
        head += key
        payload = unmask(payload, key)
    return bytes(head) + bytes(payload)


class _Direction:
    """One direction of one connection: splits the byte stream into segments."""

    def __init__(self, name):
        self.name = name
        self.buf = bytearray()
        self.head_done = False
        self.count = 0  # bytes forwarded (or dropped) so far on this connection

    def segments(self):
        """Yield (bytes, frame_info or None) for each whole segment now in the buffer."""
        while self.buf:
            if not self.head_done:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > 16384:  # not HTTP: treat the rest as raw bytes
                        self.head_done = True
                        continue
                    return
                seg = bytes(self.buf[:end + 4])
                del self.buf[:end + 4]
                self.head_done = True
                yield seg, None
                continue
            info = parse_frame(self.buf)
            if info is None or len(self.buf) < info[0] + info[1]:
                return
            size = info[0] + info[1]
            seg = bytes(self.buf[:size])
            del self.buf[:size]
            yield seg, info


class FaultProxy:
    def __init__(self, upstream, faults=(), host="127.0.0.1", port=0, log=None):
        self.upstream = upstream  # (host, port); may be set after construction, before use
        self.faults = [f if isinstance(f, Fault) else Fault.parse(f) for f in faults]
        self.host, self.port = host, port
        self._log = log
        self._server = None
        self._conns = set()
        self._tasks = set()
        self._stall_until = 0.0
        self._delay = None  # (ms, jitter_ms)
        self._refuse_task = None
        self._rng = random.Random(1)
        self.connections = 0  # accepted so far
        self.events = []  # (_now(), text) of what the proxy did, on the loop's clock

    def note(self, text):
        self.events.append((_now(), text))
        if self._log:
            self._log("faultproxy: " + text)

    async def start(self):
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        if self._refuse_task is not None:
            self._refuse_task.cancel()
        if self._server is not None:
            self._server.close()
            self._server = None
        for writers in list(self._conns):
            for w in writers:
                w.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()

    def url(self, path=""):
        return "ws://%s:%d%s" % (self.host, self.port, path)

    # -- refusing ------------------------------------------------------------------------------

    async def _refuse(self, seconds):
        if self._server is not None:
            self._server.close()
            self._server = None
        self.note("refusing new connections for %.1f s" % seconds)
        await asyncio.sleep(seconds)
        self._server = await asyncio.start_server(self._accept, self.host, self.port,
                                                  reuse_address=True)
        self.note("accepting again")

    # -- a connection ----------------------------------------------------------------------------
    # Per direction a reader task splits and judges segments in arrival order and queues them
    # with a due time (arrival + delay, never before the previous one: latency without reordering
    # or a throughput limit); a writer task delivers them, also waiting out a stall.

    async def _accept(self, creader, cwriter):
        index = self.connections
        self.connections += 1
        try:
            ureader, uwriter = await asyncio.open_connection(*self.upstream)
        except OSError as exc:
            self.note("connection %d: upstream unreachable (%s)" % (index, exc))
            cwriter.transport.abort()
            return
        pair = (cwriter, uwriter)
        state = {"index": index, "first": True, "closed": False,
                 "queues": (asyncio.Queue(), asyncio.Queue()), "last_due": [0.0, 0.0]}
        tasks = [asyncio.ensure_future(c) for c in (
            self._read(creader, _Direction("up"), 1, state, pair),
            self._read(ureader, _Direction("down"), 0, state, pair),
            self._write(cwriter, 0, state, pair), self._write(uwriter, 1, state, pair))]
        self._conns.add(pair)
        self._tasks.update(tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._conns.discard(pair)
            self._tasks.difference_update(tasks)
            for w in pair:
                w.close()

    def _queue(self, state, to, item, delay=True):
        # to: 0 = towards the client, 1 = towards the server
        due = _now()
        if delay and self._delay is not None:
            ms, jitter = self._delay
            due += max(0.0, ms + self._rng.uniform(-jitter, jitter)) / 1000
        due = max(due, state["last_due"][to])
        state["last_due"][to] = due
        state["queues"][to].put_nowait((due, item))

    async def _read(self, reader, d, to, state, pair):
        try:
            while not state["closed"]:
                data = await reader.read(_CHUNK)
                if not data:
                    self._queue(state, to, "eof")
                    return
                d.buf += data
                for seg, info in self._split(d, state):
                    if state["closed"]:
                        return
                    self._judge(seg, info, d, to, state)
        except OSError:
            self._queue(state, to, "rst", delay=False)

    async def _write(self, writer, me, state, pair):
        queue = state["queues"][me]
        try:
            while True:
                due, item = await queue.get()
                wait = max(due, self._stall_until) - _now()
                if wait > 0:
                    await asyncio.sleep(wait)
                while _now() < self._stall_until:  # a stall that began meanwhile
                    await asyncio.sleep(self._stall_until - _now())
                if state["closed"]:
                    return
                if item in ("cut", "rst"):
                    self._close(pair, state, rst=item == "rst")
                    return
                if item == "eof":
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(item)
                await writer.drain()
        except OSError:
            self._close(pair, state, rst=True)

    def _split(self, d, state):
        # Byte triggers may cut a segment: pull the bytes before the trigger out first.
        for seg, info in d.segments():
            for f in self.faults:
                if f.fired or f.dir != d.name or f.byte is None:
                    continue
                if d.count < f.byte < d.count + len(seg):
                    k = f.byte - d.count
                    yield seg[:k], None
                    seg, info = seg[k:], None
            yield seg, info

    def _due(self, seg, info, d, state):
        """The faults that fire at this segment, marked fired."""
        due = []
        payload = None
        for f in self.faults:
            if f.fired:
                continue
            hit = False
            if f.conn is not None and f.dir is None:
                hit = state["first"] and state["index"] == f.conn
            elif f.dir == d.name and f.byte is not None:
                hit = d.count <= f.byte < d.count + len(seg)
            elif f.dir == d.name and info is not None:
                if payload is None:
                    payload = unmask(seg[info[0]:], info[2])
                if f.text in payload:
                    f.seen += 1
                    hit = f.seen == f.nth
            if hit:
                f.fired_at = _now()
                due.append(f)
        return due

    def _judge(self, seg, info, d, to, state):
        faults = self._due(seg, info, d, state)
        state["first"] = False
        d.count += len(seg)
        for f in faults:  # all of them: "rst" and "refuse" often share a trigger
            self.note("connection %d %s: %r fires" % (state["index"], d.name, f))
            if seg is not None:
                seg = self._apply(f, seg, info, to, state)
            else:
                self._apply(f, b"", None, to, state)
        if seg is not None:
            self._queue(state, to, seg)

    def _apply(self, f, seg, info, to, state):
        kind = f.kind
        if kind == "delay":
            ms, _, jitter = (f.arg or "100").partition(",")
            self._delay = (float(ms), float(jitter or 0))
        elif kind == "stall":
            self._stall_until = _now() + float(f.arg or 3)
        elif kind == "refuse":
            self._refuse_task = asyncio.ensure_future(self._refuse(float(f.arg or 3)))
        elif kind in ("cut", "rst"):
            # After what is already queued towards the receiver; the trigger frame is dropped.
            self._queue(state, to, kind)
            return None
        elif kind == "inject":
            self._queue(state, 0, build_frame(1, (f.arg or "").encode()))  # to the client
        elif info is not None and kind in ("truncate", "truncate_raw"):
            h, n = info[0], info[1]
            keep = int(f.arg) if f.arg else n // 2
            if kind == "truncate_raw":
                return seg[:h + keep]
            return build_frame(info[3], unmask(seg[h:h + keep], info[2]), info[4], info[2])
        elif info is not None and kind == "flip" and info[1]:
            return _flip(seg, info, f.arg or "utf8")
        return seg

    def _close(self, pair, state, rst):
        if state["closed"]:
            return
        state["closed"] = True
        self.note("connection %d: %s" % (state["index"], "reset" if rst else "closed (FIN)"))
        for w in pair:
            if rst:
                sock = w.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                    except OSError:
                        pass
                w.transport.abort()
            else:
                w.close()
        for q in state["queues"]:
            q.put_nowait((0.0, "closed"))  # wake both writers so they see `closed`


def _flip(seg, info, how):
    h, n, key = info[0], info[1], info[2]
    out = bytearray(seg)
    payload = unmask(seg[h:], key)
    if how == "b64":
        # The middle of the base64 string, so a delta played in pieces would be half-played.
        key_at = payload.find(b'"content":"')
        start = key_at + 11 if key_at >= 0 else payload.find(b'"delta":"') + 9
        end = payload.find(b'"', start) if start >= 9 else -1
        pos = (start + end) // 2 if end > start else n // 2
        new = ord("*")
    else:
        pos = n // 2
        new = payload[pos] ^ (0x80 if how == "utf8" else int(how))
    mask = key[pos % 4] if key is not None else 0
    out[h + pos] = new ^ mask
    return bytes(out)


async def _serve(args):
    host, _, port = args.upstream.rpartition(":")
    lhost, _, lport = args.listen.rpartition(":")
    proxy = FaultProxy((host or "127.0.0.1", int(port)), args.fault or [], lhost or "127.0.0.1",
                       int(lport), log=print)
    await proxy.start()
    print("faultproxy: %s -> %s, faults %s" % (proxy.url(), args.upstream, proxy.faults),
          flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await proxy.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tools.faultproxy",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the server")
    ap.add_argument("--listen", default="127.0.0.1:8770", help="HOST:PORT for the client")
    ap.add_argument("--fault", action="append", metavar="SPEC", help="e.g. rst@down:audio#3")
    args = ap.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
