"""What every fake-cloud connection shares: the send log, the session record, injections, pacing.

Every message in either direction is logged with `t` = seconds since the WebSocket opened (the
server's loop clock), so tests assert on the server-side schedule instead of on wall-clock
timing. The same messages are kept as a format-v1 Session (`conn.session`).
"""

import asyncio
import base64
import json

from tools.cloud.events import Ids
from tools.cloud.fragments import fragments
from tools.session.format import Session, event_type

# Late frames (CloudOptions.late_frames) arrive this far apart: audio in flight across a
# round trip, so a device that plays them is heard doing it.
LATE_GAP_S = 0.04


class Conn:
    cloud_name = "coze.chat"

    def __init__(self, cloud, ws, path, query):
        self.cloud = cloud
        self.opts = cloud.options
        self.ws = ws
        self.path = path
        self.query = query
        self.loop = asyncio.get_running_loop()
        self.t0 = self.loop.time()
        self.ids = Ids(seed=self.opts.seed)
        self.log = []
        self.session = Session({"cloud": self.cloud_name, "url_path": path, "query": query})
        self.subscriptions = None
        self.closed_by_server = None
        self._tasks = set()

    # -- clock and log --------------------------------------------------------------------------

    def now(self):
        return self.loop.time() - self.t0

    def _log(self, direction, msg, t=None):
        t = self.now() if t is None else t
        entry = {"t": t, "dir": direction, "type": event_type(msg)}
        audio = _audio_field(msg)
        if audio is not None:
            entry["b64"] = len(audio)
        self.log.append(entry)
        self.session.add(t, direction, msg)
        if self.opts.verbose and audio is None:
            print("%8.3f %s %s %s" % (t, self.path, "->" if direction == "down" else "<-",
                                      entry["type"]), flush=True)
        return entry

    def sent(self, etype=None):
        return [e for e in self.log if e["dir"] == "down" and etype in (None, e["type"])]

    def received(self, etype=None):
        return [e for e in self.log if e["dir"] == "up" and etype in (None, e["type"])]

    # -- sending --------------------------------------------------------------------------------

    async def send(self, msg, t=None):
        """Send one JSON message unless the device unsubscribed from its type."""
        etype = event_type(msg)
        if self.subscriptions and etype not in self.subscriptions and etype != "error":
            return False
        self._log("down", msg, t)
        data = json.dumps(msg, ensure_ascii=False)
        if self.opts.fragment_bytes:
            await self.ws.send(fragments(self.ws, data.encode(), self.opts.fragment_bytes,
                                         self.opts.ping_between), text=True)
        else:
            await self.ws.send(data)
        return True

    async def close(self, code=1000, reason=""):
        self.closed_by_server = {"by": "cloud", "code": code, "reason": reason}
        self.session.add(self.now(), "close", self.closed_by_server)
        if code == "abort":
            # A dropped TCP connection: no close frame, as when a NAT or the cloud goes away.
            self.ws.transport.abort()
        else:
            await self.ws.close(code, reason)

    def spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- injections -----------------------------------------------------------------------------

    async def inject(self, when):
        """Run the injection due at `when`; returns False when the caller must stop its work."""
        inj = self.cloud.take_injection(when, self.path)
        if inj is None:
            return True
        if inj.kind == "stall":
            await asyncio.sleep(inj.arg)
            return True
        if inj.kind == "close":
            await self.close(inj.arg, "fake cloud: injected close")
            return False
        if inj.kind == "cancel":
            # Called from inside the reply: returning False ends it; the canceled event says so.
            await self.send_canceled(inj.arg == "bare")
            return False
        await self.send_error(inj.arg, "fake cloud: injected error %d" % inj.arg)
        if inj.arg in (4100, 4101):
            await self.close(1000, "fake cloud: authentication failed")
        return False

    async def send_error(self, code, msg):
        raise NotImplementedError

    async def send_canceled(self, bare):
        """The cloud cancels the running reply by itself (injection `cancel`)."""
        raise NotImplementedError

    # -- the connection's life ------------------------------------------------------------------

    async def run(self):
        from websockets.exceptions import ConnectionClosed

        try:
            await self.on_open()
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    await self.send_error(4000, "fake cloud: binary frames are not in the API")
                    continue
                try:
                    msg = json.loads(raw)
                except ValueError:
                    await self.send_error(4000, "fake cloud: message is not JSON")
                    continue
                if not isinstance(msg, dict):
                    await self.send_error(4000, "fake cloud: message is not a JSON object")
                    continue
                self._log("up", msg)
                await self.on_message(msg)
        except ConnectionClosed:
            pass
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self.closed_by_server is None:
                code = self.ws.close_code
                self.session.add(self.now(), "close", {
                    "by": "device", "code": 1006 if code is None else code,
                    "reason": self.ws.close_reason or ""})

    async def on_open(self):
        pass

    async def on_message(self, msg):
        raise NotImplementedError


def _audio_field(msg):
    """The base64 audio a message carries (Coze append/delta, Qwen append/delta), or None."""
    etype = event_type(msg)
    data = msg.get("data") if isinstance(msg.get("data"), dict) else {}
    if etype == "input_audio_buffer.append":
        return data.get("delta") if "event_type" in msg else msg.get("audio")
    if etype == "conversation.audio.delta":
        return data.get("content")
    if etype == "response.audio.delta":
        return msg.get("delta")
    return None


def audio_bytes(msg):
    """Decoded audio byte count of a message (0 when it carries none or bad base64)."""
    b64 = _audio_field(msg)
    if not b64:
        return 0
    try:
        return len(base64.b64decode(b64))
    except ValueError:
        return 0


class Pacer:
    """Coze `limit_config`: at most `max_frames` audio frames per `period` seconds.

    Windows are fixed and start at the turn's first frame. Each frame's logged time is the time
    the pacer admitted it, so tests can recount frames per window from the log exactly.
    """

    def __init__(self, conn, period, max_frames):
        self.conn = conn
        self.period = float(period) if period else 0.0
        self.max_frames = int(max_frames) if max_frames else 0
        self.window_start = None
        self.count = 0

    @property
    def active(self):
        return self.period > 0 and self.max_frames > 0

    async def admit(self):
        """Wait until one more frame may go; returns the admission time."""
        now = self.conn.now()
        if not self.active:
            return now
        if self.window_start is None:
            self.window_start = now
        while now >= self.window_start + self.period:
            self.window_start += self.period
            self.count = 0
        if self.count >= self.max_frames:
            end = self.window_start + self.period
            await asyncio.sleep(end - now)
            now = max(self.conn.now(), end)
            while now >= self.window_start + self.period:
                self.window_start += self.period
            self.count = 0
        self.count += 1
        return now
