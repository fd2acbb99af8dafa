"""A `network` module stand-in: WLAN with the ESP32 port's API and scriptable outcomes.

    net = make_network(clock, Scenario(ssid="home", key="secret", join_ms=1200))
    wlan = net.WLAN(net.STA_IF); wlan.active(True); wlan.connect("home", "secret")

Behaviour follows ports/esp32/network_wlan.c: WLAN(STA_IF) is a singleton per interface;
connect() before active(True) raises OSError "Wifi Not Started"; status() is STAT_IDLE, then
STAT_CONNECTING for `join_ms` of clock time, then STAT_GOT_IP, or the failure the scenario
scripts (wrong key -> STAT_WRONG_PASSWORD, unknown SSID -> STAT_NO_AP_FOUND); status("rssi");
ifconfig() / ifconfig(4-tuple); config("mac"|"hostname"|...) and config(key=value), unknown
parameters are a ValueError. There is no STAT_CONNECT_FAIL on the ESP32 (it is an ESP8266 name).
Harness side: `scenario.drop()` loses the link (the app sees isconnected() go False).
WLAN(AP_IF), setup mode's access point: config(ssid/essid=, key/password=, security/authmode=)
as the ESP32 port takes them (a WPA2 key shorter than 8 characters is refused), and ifconfig()
gives `scenario.ap_ip` while active: loopback in the simulator, where the device's own servers
bind to it (192.168.4.1 on a board).
"""

import types

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4
_CONFIG_KEYS = ("mac", "ssid", "channel", "hidden", "security", "key", "hostname",
                "dhcp_hostname", "reconnects", "txpower", "protocol", "pm")
_AP_ALIASES = {"essid": "ssid", "password": "key", "authmode": "security"}
_AP_IP = ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")


class Scenario:
    """What the virtual access point does. `fail` forces a status code whatever is sent."""

    def __init__(self, ssid="sim-wifi", key="sim-password", join_ms=300, fail=None,
                 ip=("192.168.4.2", "255.255.255.0", "192.168.4.1", "192.168.4.1"), rssi=-52,
                 ap_ip=_AP_IP):
        self.ssid, self.key, self.join_ms, self.fail = ssid, key, join_ms, fail
        self.ip, self.rssi = ip, rssi
        self.ap_ip = ap_ip  # the access point's ifconfig() (setup mode)
        self.attempts = []  # (t_us, ssid) of every connect(); the key is never kept
        self.dropped = False

    def drop(self):
        self.dropped = True


def make_network(clock=None, scenario=None, chip="esp32"):
    """A fresh `network` module object bound to a clock and an access-point scenario."""
    from tools.vhw.pin import _MonoClock

    mod = types.ModuleType("network")
    for name, value in globals().items():
        if name.startswith(("STA", "AP_", "STAT_", "AUTH_")):
            setattr(mod, name, value)
    clock = clock or _MonoClock()
    scenario = scenario or Scenario()
    interfaces = {}

    class WLAN(_WLANBase):
        def __new__(cls, interface_id=STA_IF):
            if interface_id not in (STA_IF, AP_IF):
                raise ValueError("invalid WLAN interface identifier")
            if interface_id not in interfaces:
                obj = object.__new__(cls)
                obj._setup(interface_id, clock, scenario)
                interfaces[interface_id] = obj
            return interfaces[interface_id]

        def __init__(self, interface_id=STA_IF):
            pass

    mod.WLAN = WLAN
    mod.scenario = scenario
    mod.hostname = _hostname_function(scenario)
    mod.country = lambda *a: "CN" if not a else None
    return mod


def _hostname_function(scenario):
    state = {"name": "espressif"}

    def hostname(*args):
        if not args:
            return state["name"]
        if len(args[0]) > 32:
            raise ValueError("hostname too long")
        state["name"] = args[0]

    return hostname


class _WLANBase:
    def _setup(self, interface_id, clock, scenario):
        self.interface = interface_id
        self.clock = clock
        self.scenario = scenario
        self._active = False
        self._joined = None  # (t_us, outcome status) of the current attempt
        self._config = {"mac": b"\x24\x0a\xc4\x12\x34\x56", "hostname": "espressif",
                        "reconnects": -1, "txpower": 20.0, "pm": 1, "channel": 1}
        self._ifconfig = ("0.0.0.0",) * 4

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        self._active = bool(is_active)
        if not self._active:
            self._joined = None
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        if self.interface != STA_IF:
            raise OSError("STA required")
        sc = self.scenario
        sc.attempts.append((self.clock.now_us(), ssid))
        sc.dropped = False
        if sc.fail is not None:
            outcome = sc.fail
        elif ssid != sc.ssid:
            outcome = STAT_NO_AP_FOUND
        elif (key or "") != sc.key:
            outcome = STAT_WRONG_PASSWORD
        else:
            outcome = STAT_GOT_IP
        self._joined = (self.clock.now_us(), outcome)

    def disconnect(self):
        self._joined = None

    def status(self, param=None):
        if param is not None:
            if param == "rssi":
                if not self.isconnected():
                    raise OSError("STA not connected")
                return self.scenario.rssi
            if param == "stations":
                return []
            raise ValueError("unknown status param")
        if not self._active or self._joined is None:
            return STAT_IDLE
        started, outcome = self._joined
        if self.clock.now_us() - started < 1000 * self.scenario.join_ms:
            return STAT_CONNECTING
        if outcome == STAT_GOT_IP and self.scenario.dropped:
            return STAT_BEACON_TIMEOUT
        return outcome

    def isconnected(self):
        return self.status() == STAT_GOT_IP

    def ifconfig(self, config=None):
        if config is None:
            if self.interface == AP_IF:
                return self.scenario.ap_ip if self._active else self._ifconfig
            return self.scenario.ip if self.isconnected() else self._ifconfig
        if not isinstance(config, tuple) or len(config) != 4:
            raise TypeError("ifconfig needs a 4-tuple (ip, subnet, gateway, dns)")
        self._ifconfig = config
        return None

    def config(self, *args, **kwargs):
        if args and kwargs:
            raise TypeError("either get or set a parameter, not both")
        if args:
            if len(args) != 1:
                raise TypeError("can query only one param")
            key = args[0]
            if key not in _CONFIG_KEYS:
                raise ValueError("unknown config param")
            if key in ("ssid", "key", "security", "hidden") and self.interface == STA_IF:
                if key == "ssid" and self._joined is not None:
                    return self.scenario.ssid
                raise ValueError("unknown config param")
            return self._config.get(key)
        if self.interface == AP_IF:
            return self._config_ap(kwargs)
        for key, value in kwargs.items():
            if key not in _CONFIG_KEYS:
                raise ValueError("unknown config param")
            self._config[key] = value
        return None

    def _config_ap(self, kwargs):
        # The ESP32 port takes the old names too (essid, password, authmode).
        wanted = {}
        for key, value in kwargs.items():
            key = _AP_ALIASES.get(key, key)
            if key not in _CONFIG_KEYS:
                raise ValueError("unknown config param")
            wanted[key] = value
        merged = dict(self._config, **wanted)
        security = merged.get("security", AUTH_OPEN)
        if security != AUTH_OPEN and len(merged.get("key") or "") < 8:
            raise OSError("Wifi Invalid Password")  # esp_wifi_set_config: ESP_ERR_WIFI_PASSWORD
        self._config = merged
        return None

    def scan(self):
        if not self._active:
            raise OSError("Wifi Not Started")
        return [(self.scenario.ssid.encode(), b"\x11\x22\x33\x44\x55\x66", 1,
                 self.scenario.rssi, 3, False)]
