# The setup access point's name and WPA2 password, both derived from the board's unique id
# (machine.unique_id(): the base MAC on an ESP32). The board prints them on its serial console
# and `make configure --unique-id HEX` prints the same pair, so nothing needs to be stored.
#
# Limit, by design of the issue: the MAC is not secret (the access point's BSSID is the MAC + 1),
# so anyone who knows this scheme can derive the password. It keeps casual neighbours out of a
# short-lived setup network; it does not stop someone who has read this file.
import hashlib

# No l, o, 0 or 1: the password is read off a console or a label and typed on a phone.
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_PASSWORD_LEN = 10  # 50 bits; WPA2 needs 8 at least
_SALT = b"voice-setup-ap:"


def ssid(uid):
    """`voice-` and the last 4 hex digits of the unique id, e.g. voice-3456."""
    return "voice-%02X%02X" % (uid[-2], uid[-1])


def password(uid):
    digest = hashlib.sha256(_SALT + bytes(uid)).digest()
    return "".join(_ALPHABET[b & 31] for b in digest[:_PASSWORD_LEN])
