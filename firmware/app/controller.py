# The device app: owns the tasks and the one protocol session, runs the state machine and
# performs its actions (a table: action -> method).
#
# Tasks (each owned, cancelled by deinit()), and the file that holds each one's body:
#   consume    here: the only reader of the event queue; state machine -> actions
#   button     app/button.py watch(): polls the pin, posts events
#   uplink     app/uplink.py: mic frames forever; sends them while the user's turn streams
#   downlink   app/link.py (one per connection) running app/downlink.py: server messages into
#              the player (back-pressure: TCP flow control) or into events
#   player     lib/audio/player.py: ring buffer -> speaker I2S
#   led        app/led.py run();  keepalive: app/link.py;  watchdog: here
# Handlers never touch the state; they post events. Actions that wait (connect, Wi-Fi, retry
# timers, drain) run as owned helper tasks that post an event when done.
# The session (lib/cloud) lives as long as the app: its reply lifecycle (session.reply) is what
# the link, the downlink and the actions ask; a mode or voice change reconfigures it and goes
# out through link.configure(), the path a connect takes, once the answer is over.
import asyncio
import time

from app import state as S
from app.backoff import Backoff
from app.button import ButtonLogic
from app.downlink import Downlink
from app.events import EventQueue
from app.link import Link
from app.tools import DeviceTools
from app.uplink import Uplink

_WDT_FEED_MS = 1000


class Controller:
    def __init__(self, cfg, hw, audio, log, network=None, ntptime=None, wdt=None,
                 connect=None, trace=None, session=None):
        self.cfg = cfg
        self.hw = hw
        self.audio = audio  # AudioPath: mic, player, vad, uplink frame encoding
        self.log = log
        self.network = network
        self.ntptime = ntptime
        self.wdt = wdt
        self.trace = trace  # simulator hook: trace(name, detail); None on the device
        self.sm = S.StateMachine(cfg["mode"], log)
        self.queue = EventQueue()
        self.backoff = Backoff()
        self.button = ButtonLogic(cfg["min_press_ms"], cfg["long_press_ms"])
        self.tools = DeviceTools(self)
        if session is None:
            from app.cloud_session import make_session

            session = make_session(cfg, log=self._session_log)
        self.session = session
        self.link = Link(session, log, self.queue, connect, cfg["token"], trace)
        self.link.ca_file = cfg.get("ca_file")
        self.downlink = Downlink(session, self.link, self.queue, log, self.tools, trace)
        self.link.downlink = self.downlink
        self.uplink = Uplink(audio, self.link, session, self.sm, cfg["echo"], trace,
                             self.queue.post)
        if audio is not None:
            self.downlink.player = audio.player
        self.greeting = cfg.get("greeting") or None  # spoken once, after the first connect
        self.state_since = time.ticks_ms()
        self._pending_mode = None
        self._pending_undo = None  # settings changed at run time, not yet sent (their old values)
        self._tasks = []
        self._helpers = []
        self.wifi_failures = 0  # joins failed in a row
        self.on_wifi_failed = None  # called with wifi_failures after each failed join

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self):
        from app import button, led

        tasks = [("uplink", self.uplink.run()), ("player", self.audio.player.run()),
                 ("keepalive", self.link.keepalive())]
        if self.hw["button"] is not None:
            tasks.append(("button", button.watch(self.hw["button"], self.button,
                                                  self.queue.post, self._long_question)))
        if self.hw["led"] is not None:
            tasks.append(("led", led.run(self.hw["led"], self)))
        if self.wdt is not None:
            tasks.append(("watchdog", self._watchdog()))
        for name, coro in tasks:
            self._tasks.append(asyncio.create_task(self._owned(name, coro)))
        self.queue.post(S.E_BOOTED)
        await self._owned("consume", self._consume())

    async def _owned(self, name, coro):
        # A task that dies must not die silently: log it, then let main.py's handler see it.
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.error("app", "task %s crashed: %r" % (name, exc))
            raise

    def deinit(self):
        for task in self._tasks + self._helpers:
            task.cancel()
        self._tasks = []
        self._helpers = []
        self.link.deinit()
        self.audio.deinit()

    def _spawn(self, coro):
        # Helper tasks (connect, timers, drain waits) are owned too; finished ones are pruned.
        self._helpers = [t for t in self._helpers if not t.done()]
        task = asyncio.create_task(coro)
        self._helpers.append(task)
        return task

    # ---- the consumer ----------------------------------------------------------------------

    async def _consume(self):
        while True:
            event, arg = await self.queue.get()
            if self.queue.dropped:
                self.log.warn("app", "event queue overflowed, %d dropped" % self.queue.dropped)
                self.queue.dropped = 0
            before = self.sm.state
            actions = self.sm.handle(event)
            if self.sm.state != before:
                self.state_since = time.ticks_ms()
                if self.trace is not None:
                    self.trace("state", S.STATE_NAMES[self.sm.state])
            for action in actions:
                do = _ACTIONS[action]
                if isinstance(do, tuple):  # send what the session's method builds
                    await self.link.send_all(getattr(self.session, do[0])(), do[1])
                else:
                    await do(self, arg)
            self._check_link(event)
            await self._apply_pending()

    def _resting(self):
        return self.sm.state == (S.READY if self.sm.mode == S.MODE_PTT else S.LISTENING)

    def _check_link(self, event):
        if self._resting() and self.link.ws is None:
            # Waiting for the user on a link that is gone (closed while an answer played out).
            self.queue.post(S.E_IDLE_CLOSED)
        elif event == S.E_CONNECTED and self.sm.state == S.READY and self.button.is_down():
            # A press woke an idle link and is still held: that press is a question.
            self.queue.post(S.E_PRESS)

    async def _apply_pending(self):
        # Changes asked for during an answer (a tool, mostly) wait for it to be over.
        mode = self._pending_mode
        if mode is not None and (mode == self.sm.mode or self._resting()):
            self._pending_mode = None
            if mode != self.sm.mode:
                self.queue.post(S.E_LONG_PRESS)  # the state machine's own mode switch
            return
        undo = self._pending_undo
        if undo is not None and self._resting() and self.link.up():
            self._pending_undo = None
            await self.link.configure(undo)

    # ---- actions (S.A_* -> method, see _ACTIONS) -------------------------------------------

    async def _start_stream(self, arg):
        await self.uplink.start()

    async def _stop_stream(self, arg):
        self.uplink.stop()

    async def _stop_playback(self, arg):
        self.session.reply.drop()  # whatever of this reply is still to come is not wanted
        self.audio.player.clear()
        if self.trace is not None:
            self.trace("player_cleared", "")

    async def _end_of_turn(self, arg):
        self.audio.player.end_of_turn()
        self._spawn(self._await_drain())

    async def _new_conversation(self, arg):
        await self.link.send_all(self.session.new_conversation())
        self.log.info("app", "new conversation")

    async def _toggle_mode(self, arg):
        # The state machine has switched; tell the cloud on the live session, as connect does.
        self.session.set_mode(self.sm.mode)
        await self.link.configure()
        self.log.info("app", "mode is now %s" % self.sm.mode)

    async def _connect(self, arg):
        self._spawn(self._connect_task())

    async def _disconnect(self, arg):
        await self.link.close()

    async def _schedule_retry(self, arg):
        delay = self.backoff.next_ms()
        self.log.info("net", "retrying in %d ms" % delay)
        self._spawn(self._post_later(S.E_RETRY, delay))

    async def _reset_backoff(self, arg):
        self.backoff.reset()

    async def _wifi_connect(self, arg):
        self._spawn(self._wifi())

    async def _report_error(self, arg):
        # An event that carries its reason was logged where it was found: one line, not two.
        if not arg:
            self.log.error("app", "stopped; press the button to retry")

    # ---- helpers ---------------------------------------------------------------------------

    async def _connect_task(self):
        if not await self.link.connect():
            return
        greeting, self.greeting = self.greeting, None
        if greeting:
            try:
                await self.link.send_all(self.session.generate_audio(greeting), "greeting")
            except Exception as exc:  # noqa: BLE001 - Unsupported on some clouds, or too long
                self.log.warn("app", "greeting not sent: %s" % exc)

    async def _wifi(self):
        # The Wi-Fi task: app/wifi.py bring_up() joins, sets the clock, posts the outcome.
        from app import wifi

        await wifi.bring_up(self)

    async def _post_later(self, event, delay_ms):
        await asyncio.sleep_ms(delay_ms)
        self.queue.post(event)

    async def _await_drain(self):
        await self.audio.player.idle.wait()
        self.queue.post(S.E_PLAYBACK_DONE)

    async def _watchdog(self):
        # Fed only while the event loop turns: a blocking call or a dead loop resets the board.
        while True:
            self.wdt.feed()
            await asyncio.sleep_ms(_WDT_FEED_MS)

    def _long_question(self):
        return self.sm.mode == S.MODE_PTT and self.uplink.speech_in_press

    def _session_log(self, line):
        self.log.warn("cloud", line)

    # ---- asked by the device tools ---------------------------------------------------------

    def state_name(self):
        return S.STATE_NAMES[self.sm.state]

    def request_mode(self, mode):
        # Applied once the current answer is over (see _apply_pending), never mid-sentence.
        self._pending_mode = mode if mode != self.sm.mode else None

    def change_settings(self, changes):
        """config.json keys (voice_id, speech_rate) -> the live session now, the cloud once the
        answer is over. Returns the session settings that change ({}: none). ConfigError: the
        value is refused, nothing changed."""
        from app.cloud_session import live_changes

        live = {}
        current = self.session.settings
        for key, value in live_changes(self.cfg, changes).items():
            if current.get(key) != value:
                live[key] = value
        if live:
            undo = self.session.reconfigure(live)
            pending = self._pending_undo or {}
            for key in undo:
                if key not in pending:
                    pending[key] = undo[key]  # the oldest value: what a refusal goes back to
            self._pending_undo = pending
        return live


# action -> Controller method, or (session method whose messages are sent, trace name).
_ACTIONS = {
    S.A_START_STREAM: Controller._start_stream,
    S.A_STOP_STREAM: Controller._stop_stream,
    S.A_COMPLETE: ("end_turn", "complete"),
    S.A_CLEAR_INPUT: ("clear_input", None),
    S.A_CANCEL: ("cancel", "cancel"),  # the session sends nothing when no reply runs
    S.A_STOP_PLAYBACK: Controller._stop_playback,
    S.A_END_OF_TURN: Controller._end_of_turn,
    S.A_NEW_CONVERSATION: Controller._new_conversation,
    S.A_TOGGLE_MODE: Controller._toggle_mode,
    S.A_CONNECT: Controller._connect,
    S.A_DISCONNECT: Controller._disconnect,
    S.A_SCHEDULE_RETRY: Controller._schedule_retry,
    S.A_RESET_BACKOFF: Controller._reset_backoff,
    S.A_WIFI_CONNECT: Controller._wifi_connect,
    S.A_REPORT_ERROR: Controller._report_error,
}
