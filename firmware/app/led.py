# One LED pattern per state, so a user can tell what the device is doing without a console.
#
# A pattern is (on_ms, off_ms); (1, 0) is steady on and (0, 1) steady off. The LED task asks
# `is_on(state, ms_in_state)` every few tens of milliseconds and drives the pin.
import asyncio
from time import ticks_diff, ticks_ms

from app import state

_POLL_MS = 50

PATTERNS = {
    state.BOOT: (100, 100),  # fast blink: starting
    state.WIFI: (500, 500),  # slow blink: joining Wi-Fi
    state.CONNECTING: (100, 400),  # short blips: reaching the cloud
    state.READY: (50, 2950),  # a blip every 3 s: press to talk
    state.LISTENING: (1, 0),  # steady on: the mic is streaming
    state.THINKING: (150, 150),  # quick blink: waiting for the answer
    state.SPEAKING: (600, 200),  # long on, short off: the bot is talking
    state.RECONNECTING: (100, 900),  # one blip a second: link lost, retrying
    state.ERROR: (50, 150),  # frantic blink: needs a press (auth) or a fix (config)
    state.IDLE: (0, 1),  # off: the link slept; a press wakes it
}


def is_on(current_state, ms_in_state):
    on_ms, off_ms = PATTERNS[current_state]
    if off_ms == 0:
        return True
    if on_ms == 0:
        return False
    return ms_in_state % (on_ms + off_ms) < on_ms


async def run(pin, app):
    # The LED task: app.sm.state and app.state_since (ticks_ms of the last change) say what.
    while True:
        on = is_on(app.sm.state, ticks_diff(ticks_ms(), app.state_since))
        pin.value(1 if on else 0)
        await asyncio.sleep_ms(_POLL_MS)
