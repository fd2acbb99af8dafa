# The setup form -> config.json: merged over what the file already holds, checked by the very
# validator the board runs at boot (config.validate), written atomically.
#
# Secrets are never sent back to the page, so an empty secret field means "keep": the saved
# token, or the one typed in an earlier try that failed on another field. The Wi-Fi password
# is kept only for the network it was given with; an empty one for a new network is an open
# network. validate() stops at the first problem; to show every wrong field at once, check()
# puts a passing stand-in in place of each field it reported and asks again.
import json
import os

import config

FIELDS = ("wifi_ssid", "wifi_password", "cloud", "token", "bot_id", "mode", "board")
SECRETS = ("wifi_password", "token")
_STAND_INS = {"wifi_ssid": "x", "wifi_password": "", "cloud": "coze", "token": "x",
              "bot_id": "1", "mode": "ptt"}


def describe(exc):
    """(field or None, message without the 'config.json: field:' prefix) of a ConfigError.
    Reads the error's `field` (or `key`) when it has one, else the key the line starts with."""
    field = getattr(exc, "field", None) or getattr(exc, "key", None)
    text = str(exc)
    if text.startswith("config.json: "):
        text = text[13:]
    if field is None:
        head, sep, _ = text.partition(": ")
        if sep and head in config.DEFAULTS:
            field = head
    if field and text.startswith(field + ": "):
        text = text[len(field) + 2:]
    return field, text


def fixable(exc):
    """True when the setup page can fix this config error: no file, not JSON, or a form field.
    (A wrong value of a key the page does not show is left to `make configure`.)"""
    field, _ = describe(exc)
    return field is None or field in FIELDS


def read_raw(path):
    """What config.json holds as a dict (unvalidated; {} when missing or not a JSON object)."""
    try:
        with open(path) as f:
            raw = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def kept_from(raw):
    """The secrets an empty field keeps: {"token": value, "wifi_password": (ssid, value)}."""
    kept = {}
    if isinstance(raw.get("token"), str) and raw["token"]:
        kept["token"] = raw["token"]
    if isinstance(raw.get("wifi_password"), str) and raw["wifi_password"]:
        kept["wifi_password"] = (raw.get("wifi_ssid"), raw["wifi_password"])
    return kept


def merge(base, form, kept):
    """The config to check: `base` (the file's dict) with the form's fields over it."""
    raw = dict(base)
    old_url = raw.get("base_url")
    for key in FIELDS:
        if key not in form:
            continue  # a field the form did not send keeps its saved value
        value = form[key]
        if key == "bot_id":
            value = value.strip()
        if key in SECRETS and value == "":
            value = kept.get(key)
            if key == "wifi_password":
                same = value is not None and value[0] == raw.get("wifi_ssid")
                value = value[1] if same else ""
            if value is None:
                raw.pop(key, None)
                continue
        raw[key] = value
    # A base_url saved as some cloud's default follows the cloud chosen now; a custom one (a fake
    # cloud on the LAN) is kept.
    if old_url in getattr(config, "BASE_URLS", {}).values():
        raw.pop("base_url", None)
    return raw


def check(raw):
    """(validated config or None, {field: message}, message about a key the form lacks)."""
    errors = {}
    trial = dict(raw)
    for _ in range(len(FIELDS) + 1):
        try:
            cfg = config.validate(trial)
        except config.ConfigError as exc:
            field, text = describe(exc)
            if field not in FIELDS or field in errors:
                return None, errors, str(exc)
            errors[field] = text
            trial[field] = _STAND_INS[field] if field in _STAND_INS else config.known_boards()[0]
            continue
        return (None if errors else cfg), errors, None
    return None, errors, None


def remember(kept, form, errors, ssid):
    """After a failed try: secrets typed in fields that were not wrong are kept for the next
    (the Wi-Fi password with `ssid`, the network it was typed for)."""
    for key in SECRETS:
        value = form.get(key)
        if value and key not in errors:
            kept[key] = (ssid, value) if key == "wifi_password" else value


def write(raw, path):
    """Write atomically: a whole temporary file, then a rename over the old one, so a power cut
    leaves either the old config or the new one, never half of either."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(raw))
    try:
        os.rename(tmp, path)
    except OSError:
        # FAT cannot rename over a file (LittleFS, the ESP32's default, replaces it atomically).
        os.remove(path)
        os.rename(tmp, path)
