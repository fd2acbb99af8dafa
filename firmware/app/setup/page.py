# The setup page: one form (Wi-Fi network from a scan or typed, password, cloud, token, bot id,
# mode, board), the errors of the last try field by field, and the confirmation.
#
# Secrets are password inputs and never carry a value back: the page only says whether an empty
# field keeps a saved one. Everything echoed (network names from the air, what was typed, the
# validator's messages) is HTML-escaped. No script, no external resource: the phone has no
# internet while it is on the setup network.
import config

_STYLE = ("body{font-family:sans-serif;max-width:28em;margin:1em auto;padding:0 1em}"
          "label{display:block;margin-top:1em;font-weight:bold}"
          "input,select,button{width:100%;box-sizing:border-box;font-size:1.1em;padding:.4em}"
          "button{margin-top:1.5em}.err{color:#b00020;margin:.2em 0}"
          ".hint{color:#555;font-size:.9em;margin:.2em 0}")
_CLOUD_NAMES = {"coze": "Coze (coze.cn)", "qwen": "Qwen-Omni (DashScope)"}
_MODE_NAMES = {"ptt": "push to talk: hold the button", "free": "free talk: just talk"}


def esc(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _head(title):
    return ('<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" '
            'content="width=device-width,initial-scale=1"><title>%s</title><style>%s</style>'
            "</head><body>" % (esc(title), _STYLE))


def _error(out, key, errors):
    if key in errors:
        out.append('<p class="err" id="err-%s">%s</p>' % (key, esc(errors[key])))


def _label(out, key, text, hint=None):
    out.append('<label for="%s">%s</label>' % (key, text))
    if hint:
        out.append('<p class="hint">%s</p>' % hint)


def _select(out, key, choices, names, current, prompt=None):
    out.append('<select id="%s" name="%s">' % (key, key))
    if prompt:
        out.append('<option value="">%s</option>' % prompt)
    for choice in choices:
        out.append('<option value="%s"%s>%s</option>' % (
            esc(choice), " selected" if choice == current else "", esc(names.get(choice, choice))))
    out.append("</select>")


def _secret(out, key, kept, open_hint):
    hint = "saved; leave empty to keep it" if kept else open_hint
    out.append('<input type="password" id="%s" name="%s" autocomplete="off" maxlength="128"'
               ' placeholder="%s">' % (key, key, esc(hint)))


def form(name, values, networks, errors=None, general=None, kept=()):
    """The form as HTML text. `values` gives the non-secret fields' current values, `networks`
    the names a scan found, `kept` the secret fields that have a saved value."""
    errors = errors or {}
    out = [_head("Set up " + name), "<h1>Set up %s</h1>" % esc(name)]
    if general:
        out.append('<p class="err" id="err-general">%s</p>' % esc(general))
    elif errors:
        out.append('<p class="err" id="err-summary">Please fix the fields marked below.</p>')
    out.append('<form method="post" action="/" accept-charset="utf-8">')
    _label(out, "wifi_ssid", "Wi-Fi network", "2.4 GHz; pick one found nearby or type its name")
    out.append('<input id="wifi_ssid" name="wifi_ssid" list="networks" maxlength="32" '
               'autocomplete="off" value="%s"><datalist id="networks">'
               % esc(values.get("wifi_ssid") or ""))
    for net in networks:
        out.append('<option value="%s">' % esc(net))
    out.append("</datalist>")
    _error(out, "wifi_ssid", errors)
    _label(out, "wifi_password", "Wi-Fi password")
    _secret(out, "wifi_password", "wifi_password" in kept, "empty for an open network")
    _error(out, "wifi_password", errors)
    _label(out, "cloud", "Cloud")
    _select(out, "cloud", config.CLOUDS, _CLOUD_NAMES, values.get("cloud") or "coze")
    _error(out, "cloud", errors)
    _label(out, "token", "Token", "a Coze personal access token, or a DashScope API key for qwen")
    _secret(out, "token", "token" in kept, "paste the token")
    _error(out, "token", errors)
    _label(out, "bot_id", "Bot id", "Coze only: the digits after /bot/ in your bot's URL")
    out.append('<input id="bot_id" name="bot_id" inputmode="numeric" maxlength="32" '
               'autocomplete="off" value="%s">' % esc(values.get("bot_id") or ""))
    _error(out, "bot_id", errors)
    _label(out, "mode", "Talk mode")
    _select(out, "mode", config.MODES, _MODE_NAMES, values.get("mode") or "ptt")
    _error(out, "mode", errors)
    _label(out, "board", "Board", "the wiring of this device")
    _select(out, "board", config.known_boards(), {}, values.get("board"), "choose the board")
    _error(out, "board", errors)
    out.append('<button type="submit" id="save">Save and restart</button></form></body></html>')
    return "".join(out)


def saved(name, ssid):
    """The confirmation: what happens next, and what the phone should do."""
    return "".join((
        _head(name + " saved"), '<h1 id="saved">Saved</h1>',
        "<p>%s restarts now and joins <b>%s</b>. Its setup network goes away: reconnect this "
        "phone to your usual Wi-Fi. Then hold the button and talk.</p></body></html>"
        % (esc(name), esc(ssid))))


def message(title, text):
    """A small page for everything else (not found, ...)."""
    return "".join((_head(title), "<h1>%s</h1><p>%s</p></body></html>" % (esc(title), esc(text))))
