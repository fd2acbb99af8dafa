"""`make configure`: write a validated config.json, interactively or from flags.

usage: python tools/configure.py [--out config.json] [--wifi-ssid NAME] [--token-env VAR] ...
Validation is firmware/config.py, the code the board runs at boot (one source of truth).
Secrets are never taken as plain flags (they would land in shell history and `ps`): the token
and the Wi-Fi password come from an environment variable named by --token-env /
--wifi-password-env, or from a prompt that does not echo. Nothing this tool prints contains them.
Without a terminal (or with --non-interactive) nothing is asked: missing values are an error.
"""

import argparse
import getpass
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _sub in ("lib", "firmware", ""):
    if os.path.join(ROOT, _sub) not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, _sub))

from tools import hostcompat  # noqa: E402,F401,I001 - MicroPython shims, the host compat
import config  # noqa: E402,I001 - firmware/config.py

SECRET_FLAGS = {"token": "token_env", "wifi_password": "wifi_password_env"}
# Asked interactively, in this order; everything else keeps its default unless given as a flag.
ASKED = ("wifi_ssid", "wifi_password", "cloud", "token", "bot_id", "board", "mode")
PROMPTS = {
    "wifi_ssid": "Wi-Fi network name (2.4 GHz)",
    "wifi_password": "Wi-Fi password (not shown; empty for an open network)",
    "cloud": "Cloud: coze or qwen",
    "token": "Token: Coze personal access token, or DashScope API key for qwen (not shown)",
    "bot_id": "Coze bot id (the digits after /bot/ in the bot's URL)",
    "board": "Board",
    "mode": "Talk mode: ptt (hold the button) or free (just talk)",
}
MAX_ROUNDS = 5


def add_flags(parser):
    for key, default in config.DEFAULTS.items():
        if key in SECRET_FLAGS:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(default, bool) or key in config.UNSET_FLAGS:
            parser.add_argument(flag, dest=key, default=None, choices=("true", "false"))
        else:
            parser.add_argument(flag, dest=key, default=None)
    parser.add_argument("--token-env", metavar="VAR",
                        help="read the token from this environment variable")
    parser.add_argument("--wifi-password-env", metavar="VAR",
                        help="read the Wi-Fi password from this environment variable")


def convert(key, text):
    """A typed value for `key` from text; text that does not convert is kept for the validator."""
    default = config.DEFAULTS[key]
    if isinstance(default, bool) or key in config.UNSET_FLAGS:
        low = text.strip().lower()
        if low in ("true", "yes", "y", "1"):
            return True
        if low in ("false", "no", "n", "0"):
            return False
        return text
    if isinstance(default, int) or key in ("in_rate", "out_rate"):
        try:
            return int(text.strip())
        except ValueError:
            return text
    return text


def start_values(path):
    # An existing file is the starting point, so re-running only changes what is asked for.
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def from_flags(args, values):
    for key in config.DEFAULTS:
        if key in SECRET_FLAGS:
            var = getattr(args, SECRET_FLAGS[key])
            if var:
                if var not in os.environ:
                    raise SystemExit("configure: environment variable %s (for %s) is not set"
                                     % (var, key))
                values[key] = os.environ[var]
        elif getattr(args, key) is not None:
            values[key] = convert(key, getattr(args, key))
    return values


def ask(key, values, err):
    current = values.get(key, config.DEFAULTS[key])
    label = PROMPTS.get(key, key)
    if key == "board":
        label += " (%s)" % ", ".join(config.known_boards())
    if key in config.SECRETS:
        keep = " [Enter keeps the current one]" if current else ""
        answer = getpass.getpass("%s%s: " % (label, keep), stream=err)
        if answer or not current:
            values[key] = answer.strip()
        return
    shown = "" if current is None else " [%s]" % current
    err.write("%s%s: " % (label, shown))
    err.flush()
    line = sys.stdin.readline()
    if not line:
        raise SystemExit("configure: input ended before %s was answered" % key)
    answer = line.strip()
    if answer:
        values[key] = convert(key, answer)
    elif current is not None:
        values[key] = current


def ask_checked(key, values, err):
    # validate() checks keys in DEFAULTS order and ASKED follows it, so a mistake in the answer
    # just given is the first error reported: show the device's line and ask again at once.
    for _ in range(MAX_ROUNDS):
        ask(key, values, err)
        try:
            config.validate(values)
            return
        except config.ConfigError as exc:
            if exc.key != key or (key == "bot_id" and not values.get(key)):
                return
            err.write("%s\n" % exc)
    raise SystemExit("configure: giving up on %s after %d tries" % (key, MAX_ROUNDS))


def interactive(values, given, err):
    for key in ASKED:
        if key in given:
            continue
        if key == "bot_id" and values.get("cloud", "coze") != "coze":
            continue
        ask_checked(key, values, err)
    for _ in range(MAX_ROUNDS):
        try:
            return config.validate(values)
        except config.ConfigError as exc:
            err.write("%s\n" % exc)
            if exc.key not in config.DEFAULTS:
                raise SystemExit(2) from None
            ask(exc.key, values, err)
    raise SystemExit("configure: giving up after %d corrections" % MAX_ROUNDS)


def write(cfg, path):
    text = json.dumps(cfg, indent=1, ensure_ascii=False) + "\n"
    # Owner-only permissions: the file holds the token.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)


def signing_key(path, values, err):
    """The release signing key for over-the-air updates: made once if missing (tools/release.py
    signs with it); the board gets its public half as ota_key. Never printed."""
    from tools import release

    made = release.ensure_key(path)
    public = release.public_hex(path)
    if not values.get("ota_key"):
        values["ota_key"] = public
    elif values["ota_key"] != public:
        err.write("configure: note: ota_key in the config is not %s's public key: this board "
                  "refuses releases signed with it (remove ota_key to use it)\n" % path)
    if made:
        err.write("configure: made the release signing key %s: back it up and never commit it"
                  " (without it, boards need `make configure` and `make deploy` over USB to take"
                  " updates again)\n" % path)


def setup_ap_line(unique_id):
    """The access point the board opens in setup mode (README: Quick start)."""
    from app.setup import ident  # firmware/app/setup/ident.py: the board's own derivation

    if not unique_id:
        return ("setup from a phone: the board prints its setup Wi-Fi (voice-XXXX) and password "
                "on the serial console (`make logs`); or give --unique-id HEX (UNIQUE_ID= for "
                "make), from: mpremote exec \"import machine, binascii; "
                "print(binascii.hexlify(machine.unique_id()).decode())\"")
    try:
        uid = bytes.fromhex(unique_id.replace(":", ""))
    except ValueError:
        raise SystemExit("configure: --unique-id must be hex digits (e.g. 240ac4123456), got %r"
                         % unique_id) from None
    if len(uid) < 2:
        raise SystemExit("configure: --unique-id is too short: give all of machine.unique_id()")
    return ("setup from a phone: in setup mode this board's Wi-Fi is %s, password %s; the page "
            "is http://192.168.4.1/" % (ident.ssid(uid), ident.password(uid)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="config.json", help="where to write [config.json]")
    parser.add_argument("--signing-key", metavar="FILE",
                        help="OTA release signing key, made if missing [ota-signing.key next to"
                        " --out]")
    parser.add_argument("--non-interactive", action="store_true",
                        help="never prompt; fail on a missing value")
    add_flags(parser)
    parser.add_argument("--unique-id", metavar="HEX", help="the board's machine.unique_id() in "
                        "hex: also print the Wi-Fi name and password of its setup mode")
    args = parser.parse_args(argv)
    values = start_values(args.out)
    given = set(from_flags(args, {}))
    values.update(from_flags(args, {}))
    err = sys.stderr
    signing_key(args.signing_key or os.path.join(os.path.dirname(os.path.abspath(args.out)),
                                                 "ota-signing.key"), values, err)
    if args.non_interactive or not sys.stdin.isatty():
        try:
            cfg = config.validate(values)
        except config.ConfigError as exc:
            flag = "--" + exc.key.replace("_", "-") if exc.key else None
            if exc.key in SECRET_FLAGS:
                flag = "--" + SECRET_FLAGS[exc.key].replace("_", "-") + " VAR"
            err.write("%s%s\n" % (exc, " (flag: %s)" % flag if flag else ""))
            return 2
    else:
        cfg = interactive(values, given, err)
    write(cfg, args.out)
    print("wrote %s (secrets hidden below):" % args.out)
    print(json.dumps(config.redacted(cfg), indent=1, ensure_ascii=False))
    print("next: make deploy PORT=<serial port> BOARD=%s" % cfg["board"])
    print(setup_ap_line(args.unique_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
