# Setup mode: the device's own access point, captive DNS and one page to write config.json from
# a phone. main.py imports this package only when it enters setup mode (no usable config.json,
# the button held at power-on, or a Wi-Fi join that keeps failing), never in normal mode: the
# app's RAM is not shared with it.
#   ident.py   the access point's name and WPA2 password, from the board's unique id
#   http.py    a bounded asyncio HTTP/1.1 server (sans-IO request parser + thin shell)
#   dns.py     the captive DNS responder (every name -> the device)
#   page.py    the HTML form, field by field errors, the confirmation
#   submit.py  form -> config.json: merge, check with config.validate, atomic write
#   portal.py  access point bring-up and the flow, until a valid form is saved
