"""A tiny scripted WebSocket client for tests and tools: send events, wait for event types.

Not the device's client (that lives in lib/); this one runs on CPython with `websockets` and
exists so the fake cloud, the replayer and the recorder can be exercised on their own.
"""

import asyncio
import base64
import itertools
import json

from tools.session.format import event_type

_ids = itertools.count(1)


class ScriptClient:
    def __init__(self, ws):
        self.ws = ws
        self.received = []

    @classmethod
    async def connect(cls, url, token="test-token", **kw):
        from websockets.asyncio.client import connect

        headers = {"Authorization": "Bearer " + token} if token else {}
        ws = await connect(url, additional_headers=headers, compression=None,
                           max_size=4 * 2**20, **kw)
        return cls(ws)

    async def close(self):
        """Close, reading what is still in flight: websockets stops reading the socket once 16
        frames wait unread, so a cloud's close reply queued behind a paced answer would not be
        seen until the 10 s close timeout. What arrives after close() began is not recorded."""
        from websockets.exceptions import ConnectionClosed

        closing = asyncio.ensure_future(self.ws.close())
        try:
            while True:
                await self.ws.recv()
        except ConnectionClosed:
            pass
        await closing

    async def send(self, etype, data=None, **fields):
        """Send a Coze-style event (or a raw dict when etype is a dict)."""
        if isinstance(etype, dict):
            msg = etype
        else:
            msg = {"id": "evt-%d" % next(_ids), "event_type": etype}
            if data is not None:
                msg["data"] = data
            msg.update(fields)
        await self.ws.send(json.dumps(msg, ensure_ascii=False))
        return msg

    async def append(self, pcm_bytes):
        await self.send("input_audio_buffer.append",
                        {"delta": base64.b64encode(pcm_bytes).decode()})

    async def recv(self, timeout=10.0):
        msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.received.append(msg)
        return msg

    async def until(self, *etypes, timeout=10.0):
        """Receive until one of `etypes` arrives; returns that message."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError("no %s within %.1f s; got %s" % (
                    "/".join(etypes), timeout, self.types()[-8:]))
            msg = await self.recv(left)
            if event_type(msg) in etypes:
                return msg

    def types(self):
        return [event_type(m) for m in self.received]

    def audio(self, etype="conversation.audio.delta"):
        """The decoded audio bytes of every received `etype` message, joined."""
        out = bytearray()
        for m in self.received:
            if event_type(m) == etype:
                b64 = m["data"]["content"] if "data" in m else m["delta"]
                out += base64.b64decode(b64)
        return bytes(out)


async def play_uplink(cloud, session, token="test-token", skip_appends=0, swap=None):
    """Act as the device of `session`: send its recorded uplink, connection by connection.

    Before a non-append up it waits for the down records the recording has before it; appends
    go out as fast as possible. `skip_appends` drops that many appends of each connection;
    `swap` = (type, replacement) sends another event type in place of one (a departing device).
    `cloud` is anything with url(path, **query). Returns the messages received per connection.
    """
    from websockets.exceptions import ConnectionClosed

    from tools.cloud.replay import split_connections

    received = []
    for segment in split_connections(session):
        query = dict(session.header.get("query") or {})
        client = await ScriptClient.connect(cloud.url(session.header["url_path"], **query),
                                            token)
        downs_seen = skipped = 0
        try:
            for rec in segment:
                if "down" in rec:
                    downs_seen += 1
                if "up" not in rec:
                    continue
                msg = dict(rec["up"])
                if event_type(msg) == "input_audio_buffer.append":
                    if skipped < skip_appends:
                        skipped += 1
                        continue
                else:
                    while len(client.received) < downs_seen:
                        await client.recv(5)
                if swap and event_type(msg) == swap[0]:
                    msg = dict(msg, event_type=swap[1])
                await client.send(msg)
            while len(client.received) < downs_seen:
                await client.recv(5)
            if segment and segment[-1].get("close", {}).get("by") == "cloud":
                await client.recv(5)  # the cloud's close ends this with ConnectionClosed
        except (TimeoutError, ConnectionClosed):
            pass
        finally:
            await client.close()
        received.append(client.received)
        await asyncio.sleep(0.05)  # let the server see the close before the next connection
    return received
