"""Replay a recorded session against a live device, anchored to the device's uplink.

Rules (../shared/session-format.md): down records that follow an up record other than an
append are sent once the device has sent the matching up record (the k-th non-append up),
keeping the recorded gap; down records that follow appends are due once the device has streamed
as much audio as had been streamed when they arrived (or as soon as the device moves on to the
next non-append up, since append counts may differ by a few frames). Down records before any up
go out from the open, with their recorded gaps. A `close` record by the cloud is replayed; each
`close` ends one connection, and the records after it belong to the next connection (a session
with a reconnect).

Departures - where the device's uplink leaves the recording - are collected per connection:
non-append event types in order, and append-run lengths beyond `append_tolerance` frames.
"""

import asyncio

from tools.cloud.conn import Conn, audio_bytes
from tools.cloud.events import coze_error, qwen_error
from tools.session.format import event_type

APPEND = "input_audio_buffer.append"
APPEND_TOLERANCE = 5


def split_connections(session):
    """The session's records, one list per WebSocket connection."""
    segments, cur = [], []
    for rec in session.records:
        cur.append(rec)
        if "close" in rec:
            segments.append(cur)
            cur = []
    if cur or not segments:
        segments.append(cur)
    return segments


class Plan:
    """One connection's script: the expected uplink and each down/close with its anchor."""

    def __init__(self, records):
        self.t_open = records[0]["t"] if records else 0.0
        self.ups = []  # expected uplink items: ("event", type) or ("appends", count)
        self.steps = []  # (anchor, delay, record)
        anchor, t_anchor = ("open",), self.t_open
        k = 0  # non-append ups so far
        audio = 0  # recorded uplink audio bytes so far
        for rec in records:
            if "up" in rec:
                etype = event_type(rec["up"])
                if etype == APPEND:
                    audio += audio_bytes(rec["up"])
                    if self.ups and self.ups[-1][0] == "appends":
                        self.ups[-1] = ("appends", self.ups[-1][1] + 1)
                    else:
                        self.ups.append(("appends", 1))
                    anchor, t_anchor = ("audio", audio, k), rec["t"]
                else:
                    k += 1
                    self.ups.append(("event", etype))
                    anchor, t_anchor = ("up", k, etype), rec["t"]
            elif "down" in rec or "close" in rec:
                self.steps.append((anchor, max(0.0, rec["t"] - t_anchor), rec))


class ReplayConn(Conn):
    """A fake-cloud connection that plays one segment of `cloud.replay`."""

    def __init__(self, cloud, ws, path, query):
        Conn.__init__(self, cloud, ws, path, query)
        self.cloud_name = cloud.replay.cloud
        self.session.header["cloud"] = self.cloud_name
        segments = split_connections(cloud.replay)
        index = sum(1 for c in cloud.connections if isinstance(c, ReplayConn))
        self.segment = index
        self.plan = Plan(segments[index] if index < len(segments) else [])
        self.tolerance = getattr(cloud, "append_tolerance", APPEND_TOLERANCE)
        self.departures = []
        if index >= len(segments):
            self.depart("connect", "connection %d" % (index + 1),
                        "the recording has only %d connection(s)" % len(segments))
        self.k = 0  # non-append ups seen
        self.k_times = {0: 0.0}
        self.audio = 0
        self.audio_times = []  # (cumulative bytes, time)
        self.run_count = 0  # appends in the current run
        self.pos = 0  # index into plan.ups
        self.changed = asyncio.Event()
        self.done = False

    def depart(self, index, expected, got):
        self.departures.append({"connection": self.segment, "t": round(self.now(), 3),
                                "index": index, "expected": expected, "got": got})

    async def send_error(self, code, msg):
        err = qwen_error if self.cloud_name == "qwen.omni" else coze_error
        await self.send(err(self.ids, code, msg))

    async def on_open(self):
        self.spawn(self._play())

    async def on_message(self, msg):
        etype = event_type(msg)
        now = self.now()
        if etype == APPEND:
            self.audio += audio_bytes(msg)
            self.audio_times.append((self.audio, now))
            self.run_count += 1
        else:
            self._end_run()
            self._expect(("event", etype))
            self.k += 1
            self.k_times[self.k] = now
        self.changed.set()

    def _end_run(self):
        if self.run_count:
            self._expect(("appends", self.run_count))
            self.run_count = 0

    def _expect(self, got):
        ups = self.plan.ups
        want = ups[self.pos] if self.pos < len(ups) else None
        if got[0] == "appends":
            if want is not None and want[0] == "appends":
                if abs(want[1] - got[1]) > self.tolerance:
                    self.depart(self.pos, "%d appends" % want[1], "%d appends" % got[1])
                self.pos += 1
            else:
                self.depart(self.pos, _show(want), "%d appends" % got[1])
            return
        if want is not None and want[0] == "appends":
            # The device streamed nothing where the recording has audio.
            self.depart(self.pos, _show(want), got[1])
            self.pos += 1
            want = ups[self.pos] if self.pos < len(ups) else None
        if want != got:
            self.depart(self.pos, _show(want), got[1])
        self.pos += 1

    def finish(self):
        """Account for what the device never sent; call after the connection ended."""
        if self.done:
            return
        self.done = True
        self._end_run()
        for i in range(self.pos, len(self.plan.ups)):
            self.depart(i, _show(self.plan.ups[i]), "nothing (connection ended)")

    async def run(self):
        try:
            await Conn.run(self)
        finally:
            self.finish()

    async def _play(self):
        last = 0.0
        for anchor, delay, rec in self.plan.steps:
            at = await self._anchor_time(anchor)
            due = max(last, at + delay)
            wait = due - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            last = max(due, self.now())
            if "close" in rec:
                info = rec["close"]
                if info.get("by") == "cloud":
                    code = info.get("code", 1000)
                    await self.close("abort" if code == 1006 else code, info.get("reason", ""))
                return
            await self.send(rec["down"])

    async def _anchor_time(self, anchor):
        while True:
            kind = anchor[0]
            if kind == "open":
                return 0.0
            if kind == "up" and self.k >= anchor[1]:
                return self.k_times[anchor[1]]
            if kind == "audio":
                need, k_before = anchor[1], anchor[2]
                for total, t in self.audio_times:
                    if total >= need:
                        return t
                if self.k > k_before:  # moved on with a few frames fewer than recorded
                    return self.k_times[k_before + 1]
            self.changed.clear()
            await self.changed.wait()


def _show(item):
    if item is None:
        return "nothing (recording ended)"
    return "%d appends" % item[1] if item[0] == "appends" else item[1]


def report(cloud):
    """{"connections", "departures"} over every replay connection of a FakeCloud."""
    conns = [c for c in cloud.connections if isinstance(c, ReplayConn)]
    return {"connections": len(conns),
            "departures": [d for c in conns for d in c.departures]}
