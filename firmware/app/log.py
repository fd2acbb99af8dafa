# Levelled, one-line log for the device: "  12.345 I state  READY -> LISTENING on PRESS".
#
# One line per state transition and per notable event. Secrets are registered once with
# `add_secret()` and masked in every line, so a token cannot leak even through an exception text.
# The sink is print() on the device; the simulator passes its own to collect lines.
import time

DEBUG = 10
INFO = 20
WARN = 30
ERROR = 40
_LETTER = {DEBUG: "D", INFO: "I", WARN: "W", ERROR: "E"}
LEVELS = {"debug": DEBUG, "info": INFO, "warn": WARN, "error": ERROR}


class Log:
    def __init__(self, level=INFO, sink=None):
        self.level = level
        self._sink = sink or print
        self._secrets = []
        self._start = time.ticks_ms()

    def set_level(self, name):
        self.level = LEVELS[name]

    def add_secret(self, secret):
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets.append(secret)

    def redact(self, text):
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "<redacted>")
        return text

    def _emit(self, level, tag, message):
        if level < self.level:
            return
        seconds = time.ticks_diff(time.ticks_ms(), self._start) / 1000
        self._sink("%8.3f %s %-6s %s" % (seconds, _LETTER[level], tag, self.redact(message)))

    def debug(self, tag, message):
        self._emit(DEBUG, tag, message)

    def info(self, tag, message):
        self._emit(INFO, tag, message)

    def warn(self, tag, message):
        self._emit(WARN, tag, message)

    def error(self, tag, message):
        self._emit(ERROR, tag, message)
