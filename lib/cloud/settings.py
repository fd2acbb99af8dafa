# Reading a plain settings dict with one clear error per bad key (cloud/errors.ConfigError).
#
# Each session validates everything in its constructor, so a wrong value is reported when the
# device starts, not as a server error minutes later. Keys a session does not know are refused
# too (a typo would otherwise be silently ignored); APP_KEYS are the app's own and pass through.
from cloud.errors import ConfigError

APP_KEYS = ("cloud", "token", "api_key")
_MISSING = object()


class Settings:
    def __init__(self, settings, known):
        if not isinstance(settings, dict):
            raise ConfigError("settings", "expected a dict, got %s" % type(settings).__name__)
        for key in settings:
            if key not in known and key not in APP_KEYS:
                raise ConfigError(key, "unknown setting (known: %s)" % ", ".join(sorted(known)))
        self._s = settings

    def has(self, key):
        return self._s.get(key) is not None

    def _value(self, key, default):
        value = self._s.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        return value

    def integer(self, key, default=None, lo=None, hi=None):
        value = self._value(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, "must be an integer, got %r" % (value,))
        self._range(key, value, lo, hi)
        return value

    def number(self, key, default=None, lo=None, hi=None):
        value = self._value(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, "must be a number, got %r" % (value,))
        self._range(key, value, lo, hi)
        return value

    def _range(self, key, value, lo, hi):
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(key, "must be from %s to %s, got %s" % (lo, hi, value))

    def boolean(self, key, default=None):
        value = self._value(key, default)
        if value is not None and not isinstance(value, bool):
            raise ConfigError(key, "must be true or false, got %r" % (value,))
        return value

    def text(self, key, default=None, empty_ok=False):
        value = self._value(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise ConfigError(key, "must be a string, got %r" % (value,))
        if not value and not empty_ok:
            return None  # "" means "not set" (Coze refuses an empty conversation_id)
        return value

    def choice(self, key, choices, default=None):
        value = self._value(key, default)
        if value is not None and value not in choices:
            names = "/".join(str(c) for c in choices)
            raise ConfigError(key, "must be one of %s, got %r" % (names, value))
        return value

    def mapping(self, key, str_values=True):
        value = self._value(key, None)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ConfigError(key, "must be a dict, got %r" % (value,))
        for k in value:
            if not isinstance(k, str) or (str_values and not isinstance(value[k], str)):
                raise ConfigError(key, "must map strings to strings (entry %r)" % (k,))
        return value

    def strings(self, key):
        value = self._value(key, None)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, "must be a list of strings, got %r" % (value,))
        return value

    def digits(self, key, required=False):
        # Ids that go into the URL query: digits only, so nothing needs escaping.
        value = self._value(key, None)
        if value is None:
            if required:
                raise ConfigError(key, "is required")
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value or not all("0" <= c <= "9" for c in value):
            raise ConfigError(key, "must be a string of digits, got %r" % (value,))
        return value

    def base_url(self, key, default):
        value = self.text(key, default)
        if not (value.startswith("wss://") or value.startswith("ws://")):
            raise ConfigError(key, "must start with wss:// (or ws:// for a local test server)")
        return value.rstrip("/")


def bearer(token):
    """{"Authorization": "Bearer <token>"}; refuses an empty token or one that would break the
    header, without ever putting the token into the error text."""
    if not isinstance(token, str) or not token:
        raise ConfigError("token", "is missing; set the cloud access token")
    for c in token:
        if c <= " " or c == "\x7f":
            raise ConfigError("token", "contains whitespace or control characters")
    return {"Authorization": "Bearer " + token}
