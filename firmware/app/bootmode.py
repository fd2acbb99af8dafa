# Which mode this boot starts: setup mode or the app. main.py asks once, at power-on, and then
# drops this module (boot-only code: in normal mode the app's RAM should not keep it).
# Setup mode when config.json is missing or has an error the setup page can fix, when the app
# left the Wi-Fi note (it kept failing to join), or when the button is held at power-on
# (5 s: setup mode; 10 s: its access point open, without a password).
import time

import machine

_SETUP_HOLD_MS = 5000  # the button held this long at power-on: setup mode
_OPEN_HOLD_MS = 10000  # ... and this long: its access point is open (no password), as asked


def setup_wanted(flag_file):
    """(reason, open access point) for setup mode, or None for the app."""
    import config

    try:
        cfg = config.load()
    except config.ConfigError as exc:
        from app.setup.submit import fixable

        # An error the page cannot fix (a key it does not show) keeps the old way: the app
        # prints what to fix and the REPL stays reachable.
        return ("config", False) if fixable(exc) else None
    try:
        import os

        os.remove(flag_file)
        return "wifi", False
    except OSError:
        pass
    held = _held_ms(cfg["board"])
    return ("button", held >= _OPEN_HOLD_MS) if held >= _SETUP_HOLD_MS else None


def _held_ms(board):
    # The button (active low) read once at power-on; while it stays down, timed up to 10 s.
    # (GPIO0 buttons: press it just after power-on; held through the reset, the ESP32 starts its
    # flash loader instead.)
    import boards

    pin = machine.Pin(boards.load(board).PINS["button"], machine.Pin.IN, machine.Pin.PULL_UP)
    start = time.ticks_ms()
    said = 0
    while pin.value() == 0:
        held = time.ticks_diff(time.ticks_ms(), start)
        if held >= _OPEN_HOLD_MS:
            break
        if said == 0:
            print("I main   button held: keep holding 5 s for setup mode")
            said = 1
        elif said == 1 and held >= _SETUP_HOLD_MS:
            print("I main   setup mode: let go now (hold 5 s more for an open access point)")
            said = 2
        time.sleep_ms(20)
    return time.ticks_diff(time.ticks_ms(), start)
