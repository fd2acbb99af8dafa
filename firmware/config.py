# config.json: load, validate, fill defaults. One source of truth for the device (at boot) and
# the host (tools/configure.py imports this file), so a config that `make configure` accepts is
# one the board accepts.
#
# Every problem raises ConfigError (cloud/errors.py, the one class the device has): str(err) is
# one line "config.json: <field>: <what to do>", err.field names the key (None: the whole file).
# Secret values (token, wifi_password) never appear in a message or in redacted(cfg).
# Keys starting with "_" are comments and are ignored (JSON has no comments).
# One validator: the device's own keys are checked here; the cloud's settings are checked by
# building the very protocol session the app builds (app/cloud_session.check), so a config
# that validates is one the app can start with, and the session's rules (ranges, formats) live
# in one place. Cloud-dependent defaults follow the cloud unless set: Qwen-Omni answers in
# 24 kHz (out_rate 24000) and waits 800 ms of silence by default.
import json

from cloud.errors import ConfigError

CONFIG_PATH = "config.json"
SECRETS = ("token", "wifi_password")
CLOUDS = ("coze", "qwen")
MODES = ("ptt", "free")
CODECS = ("pcm", "g711a", "g711u")
RATES = (8000, 16000, 24000)
LOG_LEVELS = ("debug", "info", "warn", "error")
ECHO_MODES = ("aware", "gate", "off")
# true/false keys whose default is "not set" (None), for tools/configure.py's flags.
UNSET_FLAGS = ("mic_gate_while_speaking",)
BASE_URLS = {
    "coze": "wss://ws.coze.cn",
    "qwen": "wss://dashscope.aliyuncs.com/api-ws/v1/realtime",
}
# Used only when boards/ cannot be imported (e.g. a config checked before boards/ is deployed).
FALLBACK_BOARDS = ("esp32s3_inmp441", "esp32_inmp441", "esp32s3_es8311")
# Coze's input_text.generate_audio takes < 1024 bytes of text.
_GREETING_MAX = 1023

# None = required, or (for base_url) derived from another key.
DEFAULTS = {
    "wifi_ssid": None,
    "wifi_password": "",
    "cloud": "coze",
    "token": None,
    "bot_id": "",
    "base_url": None,
    "mode": "ptt",
    "codec": "pcm",
    "in_rate": 16000,
    "out_rate": 16000,
    "voice_id": "",
    "speech_rate": 0,
    "volume": 70,
    "board": None,
    "min_press_ms": 200,
    "long_press_ms": 3000,
    "silence_duration_ms": 500,  # qwen: 800 unless set
    "prefix_padding_ms": 600,  # coze free talk: audio kept before the speech the VAD heard
    "user_id": "",  # coze: separates the memory of users of one bot
    "hot_words": [],  # coze ASR: words to recognise better
    "user_language": "",  # coze ASR: "zh", "en", ... ("" = automatic)
    "instructions": "",  # qwen: the persona (system message)
    "vad_threshold": 0.5,  # qwen free talk: -1..1, higher needs louder speech
    "smooth_output": None,  # qwen3-omni-flash: true spoken style, false written, null = model's
    "echo": "aware",  # free talk while the bot speaks: "aware" | "gate" | "off" (README)
    "mic_gate_while_speaking": None,  # deprecated alias of echo: true = "gate", false = "off"
    "mic_agc": True,  # the mic's automatic gain (false: the board's fixed shift)
    "greeting": "",
    "device_id": "",
    "log_level": "info",
    "ca_file": "certs/ca.pem",
    "rx_buffer_bytes": 0,
    "ota_url": "",
    "ota_key": "",
}

_HOW_TO_CREATE = (
    "run `make configure` on your computer and then `make deploy`, or copy"
    " docs/config.example.json to the board as /config.json and edit it"
)


_SOURCE = "config.json"


def known_boards():
    # Imported lazily: boards/ pulls in machine-specific modules on first use.
    try:
        from boards import KNOWN

        return tuple(KNOWN)
    except ImportError:
        return FALLBACK_BOARDS


def _distance(a, b):
    # Levenshtein distance, small strings only: enough to suggest a fix for a mistyped key.
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev = cur
    return prev[len(b)]


def _closest(word, choices):
    # Only a near miss is worth suggesting: a third of the word's letters at most.
    best, best_d = None, max(1, len(word) // 3) + 1
    for choice in choices:
        d = _distance(word, choice)
        if d < best_d:
            best, best_d = choice, d
    return best


def _show(value, key=None):
    # A value is echoed so the user sees what was read; long strings are cut to keep one line.
    # Secrets are described, never shown.
    if key in SECRETS:
        return "a value of type %s (hidden)" % type(value).__name__
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _one_of(cfg, key, choices):
    value = cfg[key]
    if value not in choices:
        hint = ""
        if isinstance(value, str) and isinstance(choices[0], str):
            near = _closest(value.lower(), choices)
            hint = " (did you mean %r?)" % near if near else ""
        raise ConfigError(key, "must be one of %s, got %s%s"
                          % (", ".join(repr(c) for c in choices), _show(value), hint))


def _text(cfg, key, required=False):
    value = cfg[key]
    if not isinstance(value, str):
        raise ConfigError(key, "must be a string in double quotes, got %s" % _show(value, key))
    if required and not value.strip():
        raise ConfigError(key, "is empty; set it (run `make configure`)")


def _whole(cfg, key, low, high):
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, "must be a whole number from %d to %d, got %s"
                          % (low, high, _show(value)))
    if not low <= value <= high:
        raise ConfigError(key, "must be from %d to %d, got %d" % (low, high, value))


def _digits(cfg, key, what):
    value = cfg[key]
    if isinstance(value, int) and not isinstance(value, bool):
        raise ConfigError(key, "write it as a string in double quotes (\"%d\"): large ids lose"
                          " digits as JSON numbers" % value)
    _text(cfg, key)
    if value and not value.isdigit():
        raise ConfigError(key, "must be only digits (%s), got %s" % (what, _show(value)))


def _check_token(cfg):
    # The value is never shown: only its shape is described.
    value = cfg["token"]
    if value is None or value == "":
        raise ConfigError("token", "is missing; create a personal access token at"
                          " coze.cn (or a DashScope API key for qwen) and run `make configure`")
    if not isinstance(value, str):
        raise ConfigError("token", "must be a string in double quotes")
    if value.lower().startswith("bearer "):
        raise ConfigError("token", "remove the 'Bearer ' prefix; paste only the token itself")
    for ch in value:
        if ch in " \t\r\n":
            raise ConfigError("token", "contains whitespace; paste the token again without"
                              " spaces or line breaks")


def _check_url(cfg):
    _text(cfg, "base_url", True)
    url = cfg["base_url"]
    # ws:// is allowed for the local fake cloud; a real cloud is always wss://.
    if not (url.startswith("wss://") or url.startswith("ws://")):
        raise ConfigError("base_url", "must start with wss:// (e.g. %s), got %s"
                          % (BASE_URLS[cfg["cloud"]], _show(url)))


def _check_rates(cfg, raw):
    if cfg["cloud"] == "qwen":
        if cfg["codec"] != "pcm":
            raise ConfigError("codec", "qwen takes pcm only; set codec to \"pcm\"")
        # pcm24 is the only output the service takes: the answer is 24 kHz whatever the
        # speaker runs at, so another out_rate would be a promise nothing keeps.
        if "out_rate" not in raw:
            cfg["out_rate"] = 24000
        elif cfg["out_rate"] != 24000:
            raise ConfigError("out_rate", "qwen answers in 24000 Hz (pcm24) only; set out_rate"
                              " to 24000 or remove it")
        if "silence_duration_ms" not in raw:
            cfg["silence_duration_ms"] = 800  # the service's default (range 200..6000)
    for key in ("in_rate", "out_rate"):
        _one_of(cfg, key, RATES)
    if cfg["codec"] != "pcm":
        for key in ("in_rate", "out_rate"):
            if cfg[key] != 8000:
                raise ConfigError(key, "codec %s is always 8000 Hz; set %s to 8000 or remove it"
                                  % (cfg["codec"], key))


def _check_cross(cfg):
    if cfg["cloud"] == "coze":
        if not cfg["bot_id"]:
            raise ConfigError("bot_id", "is missing; copy the digits after /bot/ in your bot's"
                              " coze.cn URL (the bot must be published for API)")
    if cfg["long_press_ms"] <= cfg["min_press_ms"]:
        raise ConfigError("long_press_ms", "must be longer than min_press_ms (%d)"
                          % cfg["min_press_ms"])
    if len(cfg["greeting"].encode()) > _GREETING_MAX:
        raise ConfigError("greeting", "is longer than %d bytes; shorten it" % _GREETING_MAX)


def _flag(cfg, key):
    if not isinstance(cfg[key], bool):
        raise ConfigError(key, "must be true or false (no quotes), got %s" % _show(cfg[key]))


def _check_echo(cfg, raw):
    # mic_gate_while_speaking (before echo existed) still loads: true was "gate", false "off".
    # Set together with echo, it would be a second answer to one question: refused.
    if cfg["mic_gate_while_speaking"] is not None:
        _flag(cfg, "mic_gate_while_speaking")
        if "echo" in raw:
            raise ConfigError("mic_gate_while_speaking", "is replaced by echo (set both); "
                              "remove mic_gate_while_speaking")
        cfg["echo"] = "gate" if cfg["mic_gate_while_speaking"] else "off"
    _one_of(cfg, "echo", ECHO_MODES)


def _check_ota(cfg):
    # Over-the-air updates (firmware/otaboot.py): off while ota_url is "". ota_key is the public
    # half of the release signing key `make configure` makes; it is not a secret.
    _text(cfg, "ota_url")
    _text(cfg, "ota_key")
    url, key = cfg["ota_url"], cfg["ota_key"]
    if url and not url.startswith("https://"):
        raise ConfigError("ota_url", "must start with https:// (where the folder `make release`"
                          " built is served), got %s" % _show(url))
    if key and (len(key) != 64 or [c for c in key if c not in "0123456789abcdef"]):
        raise ConfigError("ota_key", "must be 64 lowercase hex digits (the public key `make "
                          "configure` wrote), got %s" % _show(key))
    if url and not key:
        raise ConfigError("ota_key", "is missing: ota_url needs the release signing key's public"
                          " half; run `make configure`")


def validate(raw):
    """Check a config dict; return a new dict with every default filled. Raises ConfigError
    (err.field: the key to fix, None for the whole file)."""
    try:
        return _validate(raw)
    except ConfigError as exc:
        if exc.source is not None:
            raise
        raise ConfigError(exc.field, exc.problem, _SOURCE) from None


def _validate(raw):
    if not isinstance(raw, dict):
        raise ConfigError(None, "must be a JSON object {...} of \"key\": value pairs")
    for key in raw:
        if key not in DEFAULTS and not key.startswith("_"):
            near = _closest(key, DEFAULTS)
            raise ConfigError(key, "unknown key; %s" % ("did you mean %r?" % near if near
                              else "remove it (known keys: see README.md, Configure)"))
    cfg = {}
    for key in DEFAULTS:
        cfg[key] = raw.get(key, DEFAULTS[key])
    if cfg["wifi_ssid"] is None:
        raise ConfigError("wifi_ssid", "is missing; set it to your Wi-Fi network's name (2.4 GHz)")
    _text(cfg, "wifi_ssid", True)
    _text(cfg, "wifi_password")
    _one_of(cfg, "cloud", CLOUDS)
    _check_token(cfg)
    _digits(cfg, "bot_id", "the bot id from the bot's URL on coze.cn")
    if cfg["base_url"] is None:
        cfg["base_url"] = BASE_URLS[cfg["cloud"]]
    _check_url(cfg)
    _one_of(cfg, "mode", MODES)
    _one_of(cfg, "codec", CODECS)
    if cfg["codec"] != "pcm":
        # G.711 is 8 kHz by definition: rates the user did not set follow the codec.
        for key in ("in_rate", "out_rate"):
            if key not in raw:
                cfg[key] = 8000
    _check_rates(cfg, raw)
    _whole(cfg, "volume", 0, 100)
    if cfg["board"] is None:
        raise ConfigError("board", "is missing; set it to one of %s (the one matching your wiring)"
                          % ", ".join(known_boards()))
    _one_of(cfg, "board", known_boards())
    _whole(cfg, "min_press_ms", 0, 2000)
    _whole(cfg, "long_press_ms", 500, 10000)
    _check_echo(cfg, raw)
    _flag(cfg, "mic_agc")
    _text(cfg, "greeting")
    _digits(cfg, "device_id", "any number that names this device, or \"\"")
    _one_of(cfg, "log_level", LOG_LEVELS)
    _text(cfg, "ca_file")
    if cfg["rx_buffer_bytes"] != 0:
        _whole(cfg, "rx_buffer_bytes", 4096, 65536)
    _check_ota(cfg)
    _check_cross(cfg)
    try:
        from app.cloud_session import check
    except ImportError:
        # config.py without the app beside it (the deploy tests' bare tree): there is no
        # session to build; a board always has both, so its config always gets this check.
        return cfg
    check(cfg)  # the cloud's settings, by the session itself (ConfigError names the key)
    return cfg


def loads(text):
    try:
        raw = json.loads(text)
    except ValueError as exc:
        # CPython's message carries line/column, MicroPython's does not; neither shows content.
        raise ConfigError(None, "is not valid JSON (%s); check quotes, commas and braces"
                          % exc, _SOURCE) from None
    return validate(raw)


def load(path=CONFIG_PATH):
    """Read and validate the config file; ConfigError explains how to fix or create it."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError(None, "not found at %s; %s" % (path, _HOW_TO_CREATE),
                          _SOURCE) from None
    return loads(text)


def redacted(cfg):
    """A copy that is safe to print or log: secret values are replaced."""
    out = dict(cfg)
    for key in SECRETS:
        if out.get(key):
            out[key] = "<redacted>"
    return out
