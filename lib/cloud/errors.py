# Errors of the protocol layer, and what the app should do about a cloud's error code.
#
# ConfigError: a setting is wrong; raised before anything is sent, names the key. The one class
#   for the whole device: firmware/config.py raises it too (source "config.json"), so a form or
#   a log line reads .field and .problem whichever layer found the fault.
# ProtocolError: one downlink message could not be understood; names the event type and id. The
#   session stays usable: the app logs the line and reads the next message.
# Unsupported: this cloud has no such operation (e.g. tool outputs on Qwen-Omni).
# action_for(code) maps Coze error codes to one of the ACT_* decisions so that, for example, a
# refused token stops the device instead of causing a reconnect storm.


class ConfigError(ValueError):
    """field: the key that is wrong (None: the whole file or dict); problem: what to do.
    str(): "setting 'field': problem", or "<source>: field: problem" when a source is named."""

    def __init__(self, field, problem, source=None):
        if source is None:
            text = "setting '%s': %s" % (field, problem)
        elif field is None:
            text = "%s: %s" % (source, problem)
        else:
            text = "%s: %s: %s" % (source, field, problem)
        super().__init__(text)
        self.field = field
        self.key = field  # the older name of .field
        self.problem = problem
        self.source = source


class ProtocolError(ValueError):
    def __init__(self, message, event_id=None, event_type=None):
        super().__init__(message)
        self.event_id = event_id
        self.event_type = event_type


class Unsupported(Exception):
    pass


ACT_FATAL = "fatal"  # stop and tell the user (token, bot, account); reconnecting cannot help
ACT_FIX = "fix"  # the request was refused as invalid: log it, do not repeat it
ACT_CANCEL = "cancel"  # a chat is still running: cancel it, then retry
ACT_BACKOFF = "backoff"  # rate limited: wait before the next request
ACT_RETRY = "retry"  # transient server trouble: retry with the usual backoff
ACT_IGNORE = "ignore"  # harmless (e.g. nothing to cancel)

# code: (action, what to do) - from protocol.md's list of codes seen from Coze.
_COZE = {
    4000: (ACT_FIX, "a request parameter was refused; check the cloud settings"),
    4006: (ACT_FATAL, "the bot cannot be used; check bot_id"),
    4008: (ACT_BACKOFF, "rate limited; wait before retrying"),
    4009: (ACT_BACKOFF, "rate limited; wait before retrying"),
    4011: (ACT_FATAL, "the account is out of tokens; top up the Coze account"),
    4015: (ACT_FATAL, "the bot is not published for API use; publish it as an API"),
    4016: (ACT_CANCEL, "a chat is already running; cancel it before starting another"),
    4100: (ACT_FATAL, "the token was refused; set a valid token (pat_/sat_/OAuth)"),
    4101: (ACT_FATAL, "the token lacks permission for this bot; grant it or use another token"),
    4102: (ACT_BACKOFF, "refused by risk control; wait and retry later"),
    4104: (ACT_IGNORE, "nothing to cancel"),
    5000: (ACT_RETRY, "internal server error; retry later"),
}


def action_for(code):
    """(action, hint) for a Coze error code; unknown 4xxx are request errors, others retried."""
    found = _COZE.get(code)
    if found is not None:
        return found
    if isinstance(code, int) and 4000 <= code < 5000:
        return ACT_FIX, "request refused with code %d; check the cloud settings" % code
    return ACT_RETRY, "server error %s; retry later" % code
