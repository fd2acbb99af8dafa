# The device app: owns the tasks, runs the one state machine and performs its actions.
#
# Tasks (each owned, cancelled by deinit()):
#   consume   the only reader of the event queue; state machine -> actions
#   button    polls the button every 5 ms through ButtonLogic; posts events
#   uplink    reads 20 ms mic frames forever (keeps the DMA drained); while streaming, encodes,
#             wraps them in a preallocated append frame and sends it masked in place
#   downlink  one per connection: ws.recv() -> session.feed() -> audio into the player (awaiting
#             room first, so a bursting server is slowed by TCP flow control) or an event
#   player    the Player's own task: ring buffer -> speaker I2S
#   led, keepalive (WebSocket ping), watchdog
# Handlers never touch the state; they post events. Actions that wait (connect, retry timers,
# drain) run as owned tasks that post an event when done.
import asyncio
import time

from app import led as leds
from app import state as S
from app.backoff import Backoff
from app.button import ButtonLogic
from app.cloud_session import make_session
from app.events import EventQueue
from app.link import Link
from app.tools import DeviceTools

_BUTTON_POLL_MS = 5
_LED_POLL_MS = 50
_PING_EVERY_MS = 20000
_WDT_FEED_MS = 1000


class Controller:
    def __init__(self, cfg, hw, audio, log, network=None, ntptime=None, wdt=None,
                 connect=None, trace=None):
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
        self.session = make_session(cfg, cfg["mode"], None, self._session_log)
        self.link = Link(self.session, log, self.queue, connect, self._on_audio_start,
                         self.tools, cfg["token"], trace)
        self.link.greeting = cfg.get("greeting") or None
        self.link.ca_file = cfg.get("ca_file")
        if audio is not None:
            self.link.player = audio.player
        self._pending_mode = None
        self.streaming = False
        self._state_since = time.ticks_ms()
        self._tasks = []
        self._helpers = []
        self._speech_in_press = False
        self._first_frame = False
        self.wifi_failures = 0  # joins failed in a row
        self.on_wifi_failed = None  # called with wifi_failures after each failed join

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self):
        for name, coro in (("button", self._button_task()), ("uplink", self._uplink_task()),
                           ("player", self.audio.player.run()), ("led", self._led_task()),
                           ("keepalive", self._keepalive_task()),
                           ("watchdog", self._watchdog_task())):
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
                self._state_since = time.ticks_ms()
                if self.trace is not None:
                    self.trace("state", S.STATE_NAMES[self.sm.state])
            for action in actions:
                await self._perform(action, arg)
            self._check_link(event)
            self._apply_pending_mode()

    async def _perform(self, action, arg):
        link = self.link
        if action == S.A_START_STREAM:
            self._speech_in_press = False
            await link.send_all(self.session.begin_turn())
            self.streaming = True
            self._first_frame = True
            if self.audio.has_frame and not self._mic_gated():
                # Pre-roll: the 20 ms heard just before the press leaves now (people start
                # talking as they press); the frame being captured follows it seamlessly.
                await link.send_audio(self.audio.frame_payload())
                self._sent_first_frame()
        elif action == S.A_STOP_STREAM:
            self.streaming = False
        elif action == S.A_COMPLETE:
            await link.send_all(self.session.end_turn(), "complete")
        elif action == S.A_CLEAR_INPUT:
            await link.send_all(self.session.clear_input())
        elif action == S.A_CANCEL:
            await link.send_all(self.session.cancel(), "cancel")
            link.reply_interrupted()
        elif action == S.A_STOP_PLAYBACK:
            self.audio.player.clear()
            if self.trace is not None:
                self.trace("player_cleared", "")
        elif action == S.A_END_OF_TURN:
            self.audio.player.end_of_turn()
            self._spawn(self._await_drain())
        elif action == S.A_NEW_CONVERSATION:
            await link.send_all(self.session.new_conversation())
            self.log.info("app", "new conversation")
        elif action == S.A_TOGGLE_MODE:
            self.cfg["mode"] = self.sm.mode
            self._new_session()
            await link.send_all((self.session.session_update(),))
            self.log.info("app", "mode is now %s" % self.sm.mode)
        elif action == S.A_CONNECT:
            self._new_session()
            self._spawn(link.connect())
        elif action == S.A_DISCONNECT:
            await link.close()
        elif action == S.A_SCHEDULE_RETRY:
            delay = self.backoff.next_ms()
            self.log.info("net", "retrying in %d ms" % delay)
            self._spawn(self._post_later(S.E_RETRY, delay))
        elif action == S.A_RESET_BACKOFF:
            self.backoff.reset()
        elif action == S.A_WIFI_CONNECT:
            self._spawn(self._wifi())
        elif action == S.A_REPORT_ERROR:
            # An event that carries its reason was logged where it was found: one line, not two.
            if not arg:
                self.log.error("app", "stopped; press the button to retry")

    def _new_session(self):
        # A fresh session per connection and per mode; the conversation (the bot's memory of
        # this talk) carries over.
        # Qwen-Omni sessions have no conversation to carry over (None).
        conversation = getattr(self.session, "conversation_id", None)
        self.session = make_session(self.cfg, self.sm.mode, conversation, self._session_log)
        self.link.session = self.session

    def _session_log(self, line):
        self.log.warn("cloud", line)

    def audio_frame(self, pcm, nbytes):
        # The current session's preallocated append frame (AudioPath calls this per frame).
        return self.session.audio_frame(pcm, nbytes)

    def set_volume(self, level):
        self.cfg["volume"] = level
        self.audio.set_volume(level)

    def request_mode(self, mode):
        # Applied once the current answer is over (see _consume), never mid-sentence.
        self._pending_mode = mode if mode != self.sm.mode else None

    def state_name(self):
        return S.STATE_NAMES[self.sm.state]

    def _check_link(self, event):
        state = self.sm.state
        resting = S.READY if self.sm.mode == S.MODE_PTT else S.LISTENING
        if state == resting and self.link.ws is None:
            # Waiting for the user on a link that is gone (closed while an answer played out).
            self.queue.post(S.E_IDLE_CLOSED)
        elif event == S.E_CONNECTED and state == S.READY and self.button.is_down():
            # A press woke an idle link and is still held: that press is a question.
            self.queue.post(S.E_PRESS)

    def _apply_pending_mode(self):
        mode = self._pending_mode
        if mode is None or mode == self.sm.mode:
            self._pending_mode = None
            return
        if self.sm.state == (S.READY if self.sm.mode == S.MODE_PTT else S.LISTENING):
            self._pending_mode = None
            self.queue.post(S.E_LONG_PRESS)

    async def _post_later(self, event, delay_ms):
        await asyncio.sleep_ms(delay_ms)
        self.queue.post(event)

    async def _await_drain(self):
        await self.audio.player.idle.wait()
        self.queue.post(S.E_PLAYBACK_DONE)

    def _on_audio_start(self):
        # First reply audio of a turn reached the player.
        self.queue.post(S.E_AUDIO)

    async def _wifi(self):
        from app import wifi

        if self.network is None:
            self.queue.post(S.E_WIFI_UP)
            return
        try:
            await wifi.connect(self.network, self.cfg["wifi_ssid"], self.cfg["wifi_password"],
                               log=self.log)
        except wifi.WifiError as exc:
            self.log.error("wifi", str(exc))
            self.wifi_failures += 1
            if self.on_wifi_failed is not None:
                self.on_wifi_failed(self.wifi_failures)
            self.queue.post(S.E_WIFI_FAILED)
            return
        self.wifi_failures = 0
        if self.ntptime is not None and self.cfg["base_url"].startswith("wss:"):
            await wifi.sync_time(self.ntptime, log=self.log)
        self.queue.post(S.E_WIFI_UP)

    # ---- tasks -----------------------------------------------------------------------------

    async def _button_task(self):
        pin = self.hw["button"]
        while True:
            pressed = pin.value() == 0  # active low, pulled up
            for event in self.button.update(pressed, time.ticks_ms()):
                ptt = self.sm.mode == S.MODE_PTT
                if event == S.E_LONG_PRESS and ptt and self._speech_in_press:
                    continue  # a long question, not a mode switch
                self.queue.post(event)
            await asyncio.sleep_ms(_BUTTON_POLL_MS)

    def _mic_gated(self):
        # Free talk hears its own speaker; where the config says so, the mic is muted while the
        # bot talks (no echo barge-in, but no voice barge-in either; see README "Free talk").
        return self.cfg["mic_gate_while_speaking"] and self.sm.state == S.SPEAKING

    async def _uplink_task(self):
        audio = self.audio
        while True:
            await audio.read_frame()
            if audio.speech_now:
                self._speech_in_press = True
            if self.streaming and not self._mic_gated():
                await self.link.send_audio(audio.frame_payload())
                if self._first_frame:
                    self._sent_first_frame()

    def _sent_first_frame(self):
        self._first_frame = False
        if self.trace is not None:
            self.trace("first_append", "")

    async def _led_task(self):
        pin = self.hw["led"]
        if pin is None:
            return
        while True:
            on = leds.is_on(self.sm.state, time.ticks_diff(time.ticks_ms(), self._state_since))
            pin.value(1 if on else 0)
            await asyncio.sleep_ms(_LED_POLL_MS)

    async def _keepalive_task(self):
        while True:
            await asyncio.sleep_ms(_PING_EVERY_MS)
            await self.link.ping()

    async def _watchdog_task(self):
        # Fed only while the event loop turns: a blocking call or a dead loop resets the board.
        if self.wdt is None:
            return
        while True:
            self.wdt.feed()
            await asyncio.sleep_ms(_WDT_FEED_MS)
