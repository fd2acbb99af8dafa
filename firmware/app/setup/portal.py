# Setup mode: the device's own access point, the captive DNS and the setup page, until a valid
# form is saved as config.json. main.py runs it instead of the app and resets the board when it
# returns; the simulator runs it with loopback addresses and ports it chose.
#
# Why each reason is here (main.py decides): "config" (no usable config.json: nothing else can
# run, so setup mode waits for as long as it takes), "button" (held at power-on) and "wifi" (the
# saved network kept refusing): these two return "timeout" after idle_ms without a request, so a
# device whose router was only down goes back to trying it with the config it had.
import asyncio
import time

from app.setup import dns, http, ident, page, submit

_IDLE_MS = {"button": 600000, "wifi": 300000}
_MAX_NETWORKS = 20
_POLL_MS = 250
_FLUSH_MS = 3000  # after the save: the confirmation's connection closes within this


def scan(network):
    """Names of the networks in range, strongest first (before the access point is up: an
    ESP32 scan blocks for ~2 s and disturbs its own access point's clients)."""
    sta = network.WLAN(network.STA_IF)
    try:
        sta.active(True)
        found = sta.scan()
    except OSError:
        return []
    finally:
        sta.active(False)  # setup mode only serves; its access point needs no station
    best = {}
    for entry in found:
        try:
            name = entry[0].decode()
        except UnicodeError:
            continue  # a name that is not UTF-8 cannot be typed back; it can still be typed
        if name and (name not in best or entry[3] > best[name]):
            best[name] = entry[3]
    return sorted(best, key=lambda n: -best[n])[:_MAX_NETWORKS]


def start_ap(network, name, key, open_ap):
    """Bring the access point up: WPA2 with `key`, or open when the user asked for it."""
    ap = network.WLAN(network.AP_IF)
    ap.active(True)
    if open_ap:
        ap.config(ssid=name, security=getattr(network, "AUTH_OPEN", 0))
    else:
        ap.config(ssid=name, key=key, security=getattr(network, "AUTH_WPA2_PSK", 3))
    return ap


class Portal:
    """The page's request handler and the setup flow's state."""

    def __init__(self, name, ip, port, config_path, networks, log):
        self.name = name
        self.ip = ip
        self.url = "http://%s/" % ip if port == 80 else "http://%s:%d/" % (ip, port)
        self.config_path = config_path
        self.networks = networks
        self.log = log
        self.base = submit.read_raw(config_path)
        self.kept = submit.kept_from(self.base)
        for secret in self.kept.values():
            log.add_secret(secret if isinstance(secret, str) else secret[1])
        self.saved = False
        self.last_request = time.ticks_ms()

    def _ours(self, host):
        # Any other name (a phone's connectivity check) is sent to the page: the captive portal.
        return not host or host == self.ip or host.startswith(self.ip + ":")

    async def handle(self, request):
        self.last_request = time.ticks_ms()
        if request.path == "/favicon.ico":
            return 404, page.message("Not found", "no such page").encode(), ""
        if request.path != "/" or not self._ours(request.host):
            return 302, b"", "Location: %s\r\n" % self.url
        if request.method == "POST":
            return self._submit(request)
        return 200, page.form(self.name, self.base, self.networks, kept=self.kept).encode(), ""

    def _submit(self, request):
        if not request.content_type.startswith("application/x-www-form-urlencoded"):
            raise http.HttpError(415, "send the form from the setup page")
        form = http.parse_form(request.body)
        for key in submit.SECRETS:
            self.log.add_secret(form.get(key))
        raw = submit.merge(self.base, form, self.kept)
        cfg, errors, general = submit.check(raw)
        if cfg is None:
            submit.remember(self.kept, form, errors, raw.get("wifi_ssid"))
            fields = ", ".join(sorted(errors)) or "a key the page does not show"
            self.log.warn("setup", "the form was refused (%s)" % fields)
            body = page.form(self.name, raw, self.networks, errors, general, self.kept)
            return 400, body.encode(), ""
        submit.write(raw, self.config_path)
        self.saved = True
        self.log.info("setup", "saved %s: Wi-Fi %r, cloud %s, mode %s, board %s" % (
            self.config_path, cfg["wifi_ssid"], cfg["cloud"], cfg["mode"], cfg["board"]))
        return 200, page.saved(self.name, cfg["wifi_ssid"]).encode(), ""


async def run(reason="config", open_ap=False, port=80, dns_port=53, config_path="config.json",
              idle_ms=None, request_ms=None, log=None):
    """Setup mode until the form is saved ("saved") or nobody came for idle_ms ("timeout")."""
    import machine
    import network

    from app.log import Log

    log = log or Log()
    idle_ms = _IDLE_MS.get(reason) if idle_ms is None else idle_ms
    uid = machine.unique_id()
    name, key = ident.ssid(uid), ident.password(uid)
    networks = scan(network)
    ap = start_ap(network, name, key, open_ap)
    ip = ap.ifconfig()[0]
    portal = Portal(name, ip, port, config_path, networks, log)
    server = http.Server(portal.handle, log=log)
    if request_ms:
        server.request_ms = request_ms
    responder = dns.Responder(ip, dns_port)
    await server.start(ip, port)
    try:
        responder.start()
        if open_ap:
            log.warn("setup", "access point %s is OPEN (no password), as asked: anyone in range "
                     "can join it while setup mode lasts" % name)
            log.info("setup", "join Wi-Fi %s, then open %s" % (name, portal.url))
        else:
            log.info("setup", "join Wi-Fi %s with password %s, then open %s" % (
                name, key, portal.url))
        log.info("setup", "setup mode (%s): the page writes config.json and restarts the device"
                 % reason)
        return await _wait(portal, server, idle_ms)
    finally:
        responder.stop()
        await server.stop()
        ap.active(False)


async def _wait(portal, server, idle_ms):
    while not portal.saved:
        await asyncio.sleep_ms(_POLL_MS)
        if idle_ms and time.ticks_diff(time.ticks_ms(), portal.last_request) > idle_ms:
            portal.log.info("setup", "nobody came for %d s: back to normal mode" % (
                idle_ms // 1000))
            return "timeout"
    # The confirmation is on its way: let its connection finish before the reset.
    start = time.ticks_ms()
    while server.active and time.ticks_diff(time.ticks_ms(), start) < _FLUSH_MS:
        await asyncio.sleep_ms(20)
    return "saved"
