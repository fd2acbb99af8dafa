# The one state machine of the device: states, events, actions and the explicit transition table.
#
# Pure logic. Handlers (button, network, timers, cloud) only post events; the controller's single
# consumer task calls `StateMachine.handle(event)` and performs the returned actions in order.
# An event with no row for the current state is logged and ignored, never raised.
# Push-to-talk and free talk share most rows; the mode-specific rows are kept in their own tables
# so each flow of protocol.md reads top to bottom.
from micropython import const

# States
BOOT = const(0)
WIFI = const(1)
CONNECTING = const(2)
READY = const(3)
LISTENING = const(4)
THINKING = const(5)
SPEAKING = const(6)
RECONNECTING = const(7)
ERROR = const(8)
IDLE = const(9)  # the server closed an idle link: reconnect lazily on the next press

STATE_NAMES = ("BOOT", "WIFI", "CONNECTING", "READY", "LISTENING", "THINKING", "SPEAKING",
               "RECONNECTING", "ERROR", "IDLE")

# Events
E_BOOTED = const(0)
E_WIFI_UP = const(1)
E_WIFI_FAILED = const(2)
E_WIFI_LOST = const(3)
E_CONNECTED = const(4)  # WebSocket open and the session config acknowledged
E_CONNECT_FAILED = const(5)
E_AUTH_FAILED = const(6)  # HTTP 401/403 or error 4100/4101: do not retry until a press
E_DISCONNECTED = const(7)
E_IDLE_CLOSED = const(8)
E_RETRY = const(9)  # backoff timer fired
E_PRESS = const(10)
E_RELEASE = const(11)
E_RELEASE_SHORT = const(12)  # released before min_press_ms: not a question
E_LONG_PRESS = const(13)
E_DOUBLE_PRESS = const(14)
E_SPEECH_STARTED = const(15)
E_SPEECH_STOPPED = const(16)
E_AUDIO = const(17)  # first reply audio of a turn reached the player
E_TURN_DONE = const(18)  # the cloud finished the turn (chat completed / response done)
E_PLAYBACK_DONE = const(19)  # the player drained after the turn ended
E_CANCELED = const(20)
E_CLOUD_ERROR = const(21)  # a non-fatal error event (4016, 5000, ...)
E_FATAL = const(22)  # something the device cannot recover from by itself (bad config)
E_VOICE_BARGE_IN = const(23)  # the device's echo guard heard the user over the bot (free talk)

EVENT_NAMES = ("BOOTED", "WIFI_UP", "WIFI_FAILED", "WIFI_LOST", "CONNECTED", "CONNECT_FAILED",
               "AUTH_FAILED", "DISCONNECTED", "IDLE_CLOSED", "RETRY", "PRESS", "RELEASE",
               "RELEASE_SHORT", "LONG_PRESS", "DOUBLE_PRESS", "SPEECH_STARTED", "SPEECH_STOPPED",
               "AUDIO", "TURN_DONE", "PLAYBACK_DONE", "CANCELED", "CLOUD_ERROR", "FATAL",
               "VOICE_BARGE_IN")

# Actions, performed by the controller in the order listed
A_WIFI_CONNECT = "wifi_connect"
A_CONNECT = "connect"
A_SCHEDULE_RETRY = "schedule_retry"
A_RESET_BACKOFF = "reset_backoff"
A_START_STREAM = "start_stream"  # begin a user turn and send mic frames
A_STOP_STREAM = "stop_stream"
A_COMPLETE = "complete"  # input_audio_buffer.complete (ptt end of turn)
A_CLEAR_INPUT = "clear_input"
A_CANCEL = "cancel"  # conversation.chat.cancel / response.cancel
A_STOP_PLAYBACK = "stop_playback"  # player.clear(): barge-in
A_END_OF_TURN = "end_of_turn"  # player.end_of_turn(): play what is buffered even below prefill
A_NEW_CONVERSATION = "new_conversation"
A_TOGGLE_MODE = "toggle_mode"
A_DISCONNECT = "disconnect"
A_REPORT_ERROR = "report_error"

_ANY = const(-1)
# Silence first, then tell the cloud: the user hears the interruption at once.
_INTERRUPT = (A_STOP_PLAYBACK, A_CANCEL)
_LINK_DOWN = (A_STOP_STREAM, A_STOP_PLAYBACK, A_SCHEDULE_RETRY)

# (state, event, next state, actions). _ANY matches every state not matched by a specific row.
COMMON = (
    (BOOT, E_BOOTED, WIFI, (A_WIFI_CONNECT,)),
    (WIFI, E_WIFI_UP, CONNECTING, (A_CONNECT,)),
    (WIFI, E_WIFI_FAILED, WIFI, (A_SCHEDULE_RETRY,)),
    (WIFI, E_RETRY, WIFI, (A_WIFI_CONNECT,)),
    (CONNECTING, E_CONNECT_FAILED, RECONNECTING, (A_SCHEDULE_RETRY,)),
    (CONNECTING, E_DISCONNECTED, RECONNECTING, (A_SCHEDULE_RETRY,)),
    (CONNECTING, E_IDLE_CLOSED, RECONNECTING, (A_SCHEDULE_RETRY,)),
    (RECONNECTING, E_RETRY, CONNECTING, (A_CONNECT,)),
    (RECONNECTING, E_PRESS, CONNECTING, (A_CONNECT,)),
    (ERROR, E_PRESS, CONNECTING, (A_RESET_BACKOFF, A_CONNECT)),
    (IDLE, E_PRESS, CONNECTING, (A_CONNECT,)),
    (IDLE, E_RETRY, IDLE, ()),
    (READY, E_IDLE_CLOSED, IDLE, ()),
    # The server closed after the answer was sent: let it finish playing (the controller moves
    # READY on to IDLE once the link is found down).
    (SPEAKING, E_IDLE_CLOSED, SPEAKING, ()),
    (THINKING, E_IDLE_CLOSED, RECONNECTING, _LINK_DOWN),
    (READY, E_DOUBLE_PRESS, READY, (A_NEW_CONVERSATION,)),
    (_ANY, E_AUTH_FAILED, ERROR, (A_STOP_STREAM, A_STOP_PLAYBACK, A_DISCONNECT, A_REPORT_ERROR)),
    (_ANY, E_FATAL, ERROR, (A_STOP_STREAM, A_STOP_PLAYBACK, A_DISCONNECT, A_REPORT_ERROR)),
    (_ANY, E_WIFI_LOST, WIFI, (A_STOP_STREAM, A_STOP_PLAYBACK, A_DISCONNECT, A_WIFI_CONNECT)),
)

# Rows for every state in which the link is up.
_ONLINE = (READY, LISTENING, THINKING, SPEAKING)

PTT = (
    (CONNECTING, E_CONNECTED, READY, (A_RESET_BACKOFF,)),
    (READY, E_PRESS, LISTENING, (A_START_STREAM,)),
    (THINKING, E_PRESS, LISTENING, _INTERRUPT + (A_START_STREAM,)),
    (SPEAKING, E_PRESS, LISTENING, _INTERRUPT + (A_START_STREAM,)),
    (LISTENING, E_RELEASE, THINKING, (A_STOP_STREAM, A_COMPLETE)),
    (LISTENING, E_RELEASE_SHORT, READY, (A_STOP_STREAM, A_CLEAR_INPUT)),
    # A silent 3 s hold switches to free talk; the mic keeps streaming, the cloud now listens.
    # (The controller only posts LONG_PRESS in push-to-talk when the local VAD heard no speech,
    # so a long question is never mistaken for a mode switch.)
    (LISTENING, E_LONG_PRESS, LISTENING, (A_CLEAR_INPUT, A_TOGGLE_MODE)),
    (THINKING, E_AUDIO, SPEAKING, ()),
    (READY, E_AUDIO, SPEAKING, ()),  # audio nobody asked for by voice: the boot greeting
    (THINKING, E_TURN_DONE, READY, ()),
    (THINKING, E_CANCELED, READY, (A_STOP_PLAYBACK,)),
    (THINKING, E_CLOUD_ERROR, READY, (A_STOP_PLAYBACK,)),
    (SPEAKING, E_TURN_DONE, SPEAKING, (A_END_OF_TURN,)),
    (SPEAKING, E_PLAYBACK_DONE, READY, ()),
    (SPEAKING, E_CANCELED, READY, (A_STOP_PLAYBACK,)),
    (SPEAKING, E_CLOUD_ERROR, READY, (A_STOP_PLAYBACK,)),
    (LISTENING, E_CLOUD_ERROR, READY, (A_STOP_STREAM, A_CLEAR_INPUT)),
    (LISTENING, E_IDLE_CLOSED, RECONNECTING, _LINK_DOWN),
    (READY, E_CANCELED, READY, (A_STOP_PLAYBACK,)),
    # Only a device tool (set_mode) posts this in READY: the button's press comes first.
    (READY, E_LONG_PRESS, LISTENING, (A_TOGGLE_MODE, A_START_STREAM)),
)

FREE = (
    (CONNECTING, E_CONNECTED, LISTENING, (A_RESET_BACKOFF, A_START_STREAM)),
    (READY, E_PRESS, LISTENING, (A_START_STREAM,)),
    (LISTENING, E_SPEECH_STARTED, LISTENING, (A_STOP_PLAYBACK,)),
    (LISTENING, E_SPEECH_STOPPED, THINKING, ()),
    (LISTENING, E_AUDIO, SPEAKING, ()),
    (LISTENING, E_DOUBLE_PRESS, LISTENING, (A_NEW_CONVERSATION,)),
    (LISTENING, E_LONG_PRESS, READY, (A_STOP_STREAM, A_TOGGLE_MODE)),
    (THINKING, E_AUDIO, SPEAKING, ()),
    (THINKING, E_TURN_DONE, LISTENING, ()),
    (THINKING, E_SPEECH_STARTED, LISTENING, (A_STOP_PLAYBACK,)),
    (THINKING, E_CANCELED, LISTENING, (A_STOP_PLAYBACK,)),
    (THINKING, E_CLOUD_ERROR, LISTENING, (A_STOP_PLAYBACK,)),
    (THINKING, E_PRESS, LISTENING, _INTERRUPT),
    (SPEAKING, E_SPEECH_STARTED, LISTENING, (A_STOP_PLAYBACK,)),
    (SPEAKING, E_CANCELED, LISTENING, (A_STOP_PLAYBACK,)),
    (SPEAKING, E_PRESS, LISTENING, _INTERRUPT),
    # The device heard the user over the bot (audio/echo.py): act at once, as a press does; the
    # server's speech_started, ~1 s later behind the audio it sent ahead, is the fallback.
    (SPEAKING, E_VOICE_BARGE_IN, LISTENING, _INTERRUPT),
    (SPEAKING, E_TURN_DONE, SPEAKING, (A_END_OF_TURN,)),
    (SPEAKING, E_PLAYBACK_DONE, LISTENING, ()),
    (SPEAKING, E_CLOUD_ERROR, LISTENING, (A_STOP_PLAYBACK,)),
    (LISTENING, E_CANCELED, LISTENING, (A_STOP_PLAYBACK,)),
    (LISTENING, E_TURN_DONE, LISTENING, ()),
    (LISTENING, E_CLOUD_ERROR, LISTENING, ()),
    # Free talk listens all the time, so an idle close is reconnected at once, not lazily.
    (LISTENING, E_IDLE_CLOSED, RECONNECTING, _LINK_DOWN),
)

MODE_PTT = "ptt"
MODE_FREE = "free"


def _index(rows, table):
    for state, event, target, actions in rows:
        table[(state, event)] = (target, actions)


def _build(mode):
    table = {}
    _index(PTT if mode == MODE_PTT else FREE, table)
    for state, event, target, actions in COMMON:
        if state != _ANY:
            table.setdefault((state, event), (target, actions))
    for state in _ONLINE:
        # A dropped link in any online state: stop everything, back off, reconnect.
        table.setdefault((state, E_DISCONNECTED), (RECONNECTING, _LINK_DOWN))
    for state, event, target, actions in COMMON:
        if state == _ANY:
            for s in range(len(STATE_NAMES)):
                table.setdefault((s, event), (target, actions))
    return table


_TABLES = {}


def table_for(mode):
    if mode not in _TABLES:
        _TABLES[mode] = _build(mode)
    return _TABLES[mode]


class StateMachine:
    """Current state plus the table for the current mode; `handle` is the only way to move."""

    def __init__(self, mode=MODE_PTT, log=None):
        if mode not in (MODE_PTT, MODE_FREE):
            raise ValueError("mode must be 'ptt' or 'free', got %r" % (mode,))
        self.state = BOOT
        self.mode = mode
        self._log = log
        self.ignored = 0

    def handle(self, event):
        """Apply one event; returns the actions to perform (empty when the event is ignored)."""
        row = table_for(self.mode).get((self.state, event))
        if row is None:
            self.ignored += 1
            if self._log is not None:
                self._log.debug("state", "ignored %s in %s" % (
                    EVENT_NAMES[event], STATE_NAMES[self.state]))
            return ()
        target, actions = row
        if self._log is not None:
            self._log.info("state", "%s -> %s on %s" % (
                STATE_NAMES[self.state], STATE_NAMES[target], EVENT_NAMES[event]))
        self.state = target
        if A_TOGGLE_MODE in actions:
            self.mode = MODE_FREE if self.mode == MODE_PTT else MODE_PTT
        return actions
