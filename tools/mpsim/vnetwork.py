# `network` for the simulator under MicroPython: WLAN with the ESP32 port's API
# (ports/esp32/network_wlan.c). WLAN(STA_IF) is a singleton; connect() before active(True) raises
# "Wifi Not Started"; status() is STAT_CONNECTING for `join_ms` of clock time, then STAT_GOT_IP,
# or the failure a wrong SSID or key earns (STAT_NO_AP_FOUND / STAT_WRONG_PASSWORD).
# Harness side: configure(ssid, key, join_ms, ap_ip).
# WLAN(AP_IF), setup mode's access point: config(ssid/essid=, key/password=, security/authmode=)
# as the ESP32 port takes them (a WPA2 key under 8 characters is refused); ifconfig() gives the
# access point's address while active: loopback in the simulator (192.168.4.1 on a board).
import vclock

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4
_IP = ("192.168.4.2", "255.255.255.0", "192.168.4.1", "192.168.4.1")
_ap = {"ssid": "sim-wifi", "key": "sim-password", "join_ms": 100, "ap_ip": "127.0.0.1"}
_AP_ALIASES = {"essid": "ssid", "password": "key", "authmode": "security"}
_AP_KEYS = ("ssid", "key", "security", "hidden", "channel", "max_clients", "txpower", "mac")
_interfaces = {}
attempts = []  # (t_us, ssid) of every connect(); the key is never kept


def configure(ssid="sim-wifi", key="sim-password", join_ms=100, ap_ip="127.0.0.1"):
    _ap.update(ssid=ssid, key=key, join_ms=join_ms, ap_ip=ap_ip)


def hostname(name=None):
    return "espressif" if name is None else None


def country(code=None):
    return "CN" if code is None else None


class _WLAN:
    def __init__(self, interface):
        self.interface = interface
        self._active = False
        self._joined = None  # (t_us, outcome) of the current attempt
        self._config = {"mac": b"\x24\x0a\xc4\x12\x34\x56", "hostname": "espressif",
                        "reconnects": -1, "txpower": 20.0, "pm": 1, "channel": 1}

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not self._active:
            self._joined = None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        attempts.append((vclock.now_us(), ssid))
        if ssid != _ap["ssid"]:
            outcome = STAT_NO_AP_FOUND
        elif (key or "") != _ap["key"]:
            outcome = STAT_WRONG_PASSWORD
        else:
            outcome = STAT_GOT_IP
        self._joined = (vclock.now_us(), outcome)

    def disconnect(self):
        self._joined = None

    def status(self, param=None):
        if param == "rssi":
            if not self.isconnected():
                raise OSError("STA not connected")
            return -52
        if param is not None:
            raise ValueError("unknown status param")
        if not self._active or self._joined is None:
            return STAT_IDLE
        started, outcome = self._joined
        if vclock.now_us() - started < 1000 * _ap["join_ms"]:
            return STAT_CONNECTING
        return outcome

    def isconnected(self):
        return self.status() == STAT_GOT_IP

    def ifconfig(self, config=None):
        if config is None:
            if self.interface == AP_IF:
                ip = _ap["ap_ip"]
                return (ip, "255.0.0.0", ip, ip) if self._active else ("0.0.0.0",) * 4
            return _IP if self.isconnected() else ("0.0.0.0",) * 4
        return None

    def config(self, *args, **kwargs):
        if args:
            if args[0] not in self._config:
                raise ValueError("unknown config param")
            return self._config[args[0]]
        if self.interface == AP_IF:
            self._config_ap(kwargs)
            return
        self._config.update(kwargs)

    def _config_ap(self, kwargs):
        # The ESP32 port takes the old names too (essid, password, authmode).
        wanted = {}
        for key, value in kwargs.items():
            key = _AP_ALIASES.get(key, key)
            if key not in _AP_KEYS:
                raise ValueError("unknown config param")
            wanted[key] = value
        security = wanted.get("security", self._config.get("security", AUTH_OPEN))
        password = wanted.get("key", self._config.get("key")) or ""
        if security != AUTH_OPEN and len(password) < 8:
            raise OSError("Wifi Invalid Password")  # esp_wifi_set_config: ESP_ERR_WIFI_PASSWORD
        self._config.update(wanted)

    def scan(self):
        if not self._active:
            raise OSError("Wifi Not Started")
        return [(_ap["ssid"].encode(), b"\x11\x22\x33\x44\x55\x66", 1, -52, 3, False)]


def WLAN(interface=STA_IF):  # noqa: N802 - the port's name
    if interface not in (STA_IF, AP_IF):
        raise ValueError("invalid WLAN interface identifier")
    wlan = _interfaces.get(interface)
    if wlan is None:
        wlan = _interfaces[interface] = _WLAN(interface)
    return wlan
