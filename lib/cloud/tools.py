# Device-side tools: the bot asks (EV_TOOL_CALL from conversation.chat.requires_action), the
# device runs a registered function, the answer goes back with session.submit_tool_outputs().
#
#   tools = Tools()
#   tools.register("set_volume", lambda args: player.set_volume(args["level"]) or "ok",
#                  "Set the speaker volume, level 0..100")
#   outputs = tools.dispatch(event.tool_calls)    # [(tool_call_id, output_text), ...]
#   await ws.send(session.submit_tool_outputs(event.chat_id, outputs))
# A function receives the decoded arguments dict and returns a string (other values are sent as
# JSON). An unknown tool, bad arguments or an exception become an error text for that call, so
# the bot can answer instead of waiting forever; every call gets exactly one output.
import json

_MAX_OUTPUT = 1024  # characters sent back per call: keeps a chatty tool from flooding the link


class Tools:
    def __init__(self, log=None):
        self._tools = {}
        self._log = log or print

    def register(self, name, fn, description=""):
        if not name or not isinstance(name, str):
            raise ValueError("tool name must be a non-empty string")
        if not callable(fn):
            raise ValueError("tool %s: fn must be callable" % name)
        self._tools[name] = (fn, description)

    def names(self):
        return sorted(self._tools)

    def describe(self):
        """[(name, description)] - what to declare on the bot's side."""
        return [(name, self._tools[name][1]) for name in self.names()]

    def run(self, name, arguments):
        entry = self._tools.get(name)
        if entry is None:
            return "error: unknown tool %s" % name
        try:
            args = json.loads(arguments) if arguments else {}
        except ValueError:
            return "error: arguments of %s are not valid JSON" % name
        if not isinstance(args, dict):
            return "error: arguments of %s must be a JSON object" % name
        try:
            result = entry[0](args)
        except Exception as exc:  # noqa: BLE001 - a failing tool must still answer the bot
            self._log("tool %s failed: %r" % (name, exc))
            return "error: %s failed: %s" % (name, exc)
        if result is None:
            result = "ok"
        if not isinstance(result, str):
            result = json.dumps(result)
        return result[:_MAX_OUTPUT]

    def dispatch(self, tool_calls):
        """Run each call (objects with .id, .name, .arguments); returns [(id, output)]."""
        return [(call.id, self.run(call.name, call.arguments)) for call in tool_calls]


# A process-wide registry for apps that need only one: cloud.tools.register(...) / dispatch(...)
default = Tools()
register = default.register
dispatch = default.dispatch
