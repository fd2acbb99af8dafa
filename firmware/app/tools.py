# The tools this device offers the bot (answers to conversation.chat.requires_action).
#
# Declare the same names and parameters as plugin/function tools on the bot's side (see
# README.md). Each returns a short text the bot can speak from.
from cloud.errors import ConfigError
from cloud.tools import Tools


class DeviceTools(Tools):
    def __init__(self, app):
        super().__init__(lambda line: app.log.warn("tool", line))
        self._app = app
        self.register("set_volume", self._set_volume,
                      "Set the speaker volume. Arguments: {\"level\": 0..100}")
        self.register("change_volume", self._change_volume,
                      "Make it louder or quieter. Arguments: {\"delta\": -100..100}")
        self.register("set_voice", self._set_voice,
                      "Change the bot's voice or speaking speed. Arguments: {\"voice_id\": "
                      "\"...\", \"speech_rate\": -50..100} (either or both)")
        self.register("set_mode", self._set_mode,
                      "Switch between push-to-talk and free talk. Arguments: "
                      "{\"mode\": \"ptt\" | \"free\"}")
        self.register("device_status", self._status,
                      "Volume, mode and link state of the device. No arguments")
        self.register("check_update", self._check_update,
                      "Check for a firmware update now; the device restarts. No arguments")

    def _set_volume(self, args):
        level = args.get("level")
        if not isinstance(level, int) or not 0 <= level <= 100:
            return "error: level must be a whole number 0..100"
        return self._volume(level)

    def _change_volume(self, args):
        delta = args.get("delta")
        if not isinstance(delta, int):
            return "error: delta must be a whole number"
        return self._volume(max(0, min(100, self._app.cfg["volume"] + delta)))

    def _volume(self, level):
        self._app.cfg["volume"] = level
        self._app.audio.set_volume(level)
        return "volume is %d" % level

    def _set_voice(self, args):
        changes = {}
        for key in ("voice_id", "speech_rate"):
            if key in args:
                changes[key] = args[key]
        if not changes:
            return "error: give voice_id, speech_rate or both"
        try:
            changed = self._app.change_settings(changes)
        except ConfigError as exc:
            return "error: %s %s" % (exc.field, exc.problem)
        return "the new voice speaks from the next answer" if changed else "no change"

    def _set_mode(self, args):
        mode = args.get("mode")
        if mode not in ("ptt", "free"):
            return "error: mode must be ptt or free"
        self._app.request_mode(mode)
        return "mode will be %s after this answer" % mode

    def _status(self, args):
        app = self._app
        return "volume %d, mode %s, state %s" % (app.cfg["volume"], app.sm.mode, app.state_name())

    def _check_update(self, args):
        from app.ota import request

        return request.later(self._app)
