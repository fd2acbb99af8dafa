# Push-to-talk button logic: debounced press/release, short press, long press, double press.
#
# Pure logic fed with (pressed, now_ms) samples by a polling task, so it runs identically on the
# device, the simulator and in tests. The first edge is acted on at once and further edges are
# ignored for `debounce_ms` (lock-out debouncing): a press costs no latency, which matters because
# the first audio frame must leave within 20 ms of the press. Times are ticks_ms values: every
# difference is a ticks_diff, so the button keeps working when the ticks wrap (2**30 ms, 12.4
# days of uptime on the ESP32).
import asyncio
from time import ticks_diff, ticks_ms

from micropython import const

from app import state

_POLL_MS = const(5)

_UP = const(0)
_DOWN = const(1)


class ButtonLogic:
    def __init__(self, min_press_ms=200, long_press_ms=3000, double_ms=400, debounce_ms=30):
        self.min_press_ms = min_press_ms
        self.long_press_ms = long_press_ms
        self.double_ms = double_ms
        self.debounce_ms = debounce_ms
        self._phase = _UP
        self._edge_ms = None  # time of the last accepted edge
        self._pressed_ms = 0
        self._long_sent = False
        self._last_tap_ms = None  # release time of the last short tap, for double press
        self.held_ms = 0

    def is_down(self):
        return self._phase == _DOWN

    def update(self, pressed, now_ms):
        """Feed one sample; returns a tuple of state-machine events (usually empty)."""
        if self._edge_ms is not None and ticks_diff(now_ms, self._edge_ms) < self.debounce_ms:
            return ()
        if self._phase == _UP:
            if not pressed:
                return ()
            self._phase = _DOWN
            self._edge_ms = self._pressed_ms = now_ms
            self._long_sent = False
            return (state.E_PRESS,)
        held = ticks_diff(now_ms, self._pressed_ms)
        self.held_ms = held
        if pressed:
            if not self._long_sent and held >= self.long_press_ms:
                self._long_sent = True
                return (state.E_LONG_PRESS,)
            return ()
        self._phase = _UP
        self._edge_ms = now_ms
        if self._long_sent:
            self._last_tap_ms = None
            return (state.E_RELEASE,)
        if held >= self.min_press_ms:
            self._last_tap_ms = None
            return (state.E_RELEASE,)
        if self._last_tap_ms is not None and \
                ticks_diff(now_ms, self._last_tap_ms) <= self.double_ms + held:
            self._last_tap_ms = None
            return (state.E_RELEASE_SHORT, state.E_DOUBLE_PRESS)
        self._last_tap_ms = now_ms
        return (state.E_RELEASE_SHORT,)


async def watch(pin, logic, post, is_question):
    # The button task: polls the pin (active low, pulled up) every 5 ms through the logic and
    # posts its events. A long press while is_question() (push-to-talk, the VAD heard speech
    # during the press) is a long question, not a mode switch.
    while True:
        for event in logic.update(pin.value() == 0, ticks_ms()):
            if event == state.E_LONG_PRESS and is_question():
                continue
            post(event)
        await asyncio.sleep_ms(_POLL_MS)
