"""Setup mode's own HTTP server and captive DNS against hostile clients, under both runtimes.

The device (firmware/app/setup, unchanged) runs in setup mode through tools/sim/setup_run.py:
in this process on tools/vhw (CPython), or as the deployed .mpy tree in the MicroPython unix
port. Each hostile request gets its defined answer (http.py's table), and after every one the
page is still served. Everything is on 127.0.0.1; every client has a deadline.
"""

import asyncio
import socket
import threading
import time

import pytest

from tools.sim.setup_run import SetupDevice

RUNTIMES = ("cpython", "micropython")
REQUEST_MS = 2000  # the device's whole-request bound for this test (10 s on the board)
TIMEOUT_S = 15.0  # every client read: far above any bound the server applies


class DeviceThread:
    """A SetupDevice on its own event loop in a thread, so tests can use blocking sockets."""

    def __init__(self, runtime, workdir):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.device = SetupDevice(runtime, str(workdir), settings={"request_ms": REQUEST_MS})

    def call(self, coro, timeout=120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        try:
            self.call(self.device.stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture(scope="module", params=RUNTIMES)
def device(request, tmp_path_factory):
    dev = DeviceThread(request.param, tmp_path_factory.mktemp("setup-" + request.param))
    dev.call(dev.device.start())
    yield dev.device
    dev.close()
    # Power-off is the only way it ended: no crash on the way.
    assert dev.device.outcome == "stopped", dev.device.outcome
    assert not any(" crashed" in line or "Traceback" in line for line in dev.device.log)


def connect(device):
    sock = socket.create_connection(("127.0.0.1", device.port), timeout=TIMEOUT_S)
    sock.settimeout(TIMEOUT_S)
    return sock


def read_answer(sock):
    """(status, whole answer) read until the server closes, within TIMEOUT_S."""
    chunks = []
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break  # the answer (if any) was read before the reset
        if not chunk:
            break
        chunks.append(chunk)
    data = b"".join(chunks)
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None
    return status, data


def exchange(device, raw):
    with connect(device) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def send_in_background(sock, head, body_chunks):
    """Send `head`, then keep sending while the test reads: the server answers mid-flood."""

    def run():
        try:
            sock.sendall(head)
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server closed after answering: expected

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def still_serving(device):
    status, body = exchange(device, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 200 and b'name="wifi_ssid"' in body, body[:200]


def test_a_1_mb_body_gets_413_before_it_is_read(device):
    with connect(device) as sock:
        head = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                b"application/x-www-form-urlencoded\r\nContent-Length: 1048576\r\n\r\n")
        sender = send_in_background(sock, head, [b"a" * 65536] * 16)
        status, data = read_answer(sock)
        sender.join(TIMEOUT_S)
    assert status == 413, data[:200]
    assert b"over 4096 bytes" in data
    still_serving(device)


def test_10000_headers_get_431(device):
    with connect(device) as sock:
        headers = b"".join(b"X-Flood-%d: v\r\n" % i for i in range(10000))
        sender = send_in_background(sock, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                                    [headers[i:i + 8192] for i in range(0, len(headers), 8192)])
        status, data = read_answer(sock)
        sender.join(TIMEOUT_S)
    assert status == 431, data[:200]
    still_serving(device)


def test_a_slowloris_client_gets_408_and_others_are_served_meanwhile(device):
    with connect(device) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        still_serving(device)  # one slow client holds one connection slot, not the server
        start = time.monotonic()
        answer = b""
        # A header byte every 100 ms, never the blank line; the server ends it at REQUEST_MS.
        while time.monotonic() - start < TIMEOUT_S:
            try:
                slow.sendall(b"X")
            except OSError:
                break
            slow.settimeout(0.1)
            try:
                chunk = slow.recv(4096)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
    # 408 is sent only when the request bound ran out: the trickle was cut, not served.
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    still_serving(device)


@pytest.mark.parametrize("body", [b"wifi_ssid=%FF%FE%FD&token=x", b"wifi_ssid=\xff\xfe\xfd",
                                  b"wifi_ssid=%C3"], ids=["escaped", "raw", "truncated"])
def test_non_utf8_form_data_gets_400(device, body):
    status, data = exchange(device, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                            b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(body), body))
    assert status == 400, data[:200]
    assert b"not UTF-8" in data
    assert device.saved() is None
    still_serving(device)


@pytest.mark.parametrize("raw,status", [
    (b"BREW / HTTP/1.1\r\n\r\n", 405),
    (b"GET /\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n folded: header\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nwifi_ssid=x", 411),
    (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
     b"Content-Length: 1\r\n\r\nx", 415),
    (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
     b"Content-Length: 5\r\n\r\na=%zz", 400),
    (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", 431),
    (b"GET /generate_204 HTTP/1.1\r\nHost: connectivitycheck.gstatic.com\r\n\r\n", 302),
    (b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 302),
    (b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404),
], ids=["method", "http0.9", "http2", "no-colon", "folded", "negative-length", "two-lengths",
        "no-length", "chunked", "not-a-form", "bad-escape", "long-target", "captive-check",
        "other-host", "favicon"])
def test_bad_requests_get_their_answer(device, raw, status):
    got, data = exchange(device, raw)
    assert got == status, data[:300]
    if status == 302:
        assert b"Location: %s\r\n" % device.url.encode() in data
    still_serving(device)


def test_over_4_connections_the_extra_one_gets_503(device):
    idle = [connect(device) for _ in range(4)]
    try:
        time.sleep(0.3)  # the device has accepted all four
        status, data = exchange(device, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status == 503, data[:200]
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + TIMEOUT_S
    while True:  # the slots free as the idle ones close
        status, _ = exchange(device, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200


def test_a_client_that_leaves_early_costs_nothing(device):
    for raw in (b"", b"GET / HT", b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"):
        with connect(device) as sock:
            sock.sendall(raw)
    still_serving(device)


def dns_query(name, qtype=1, ident=0x1234):
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return ident.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + qname + \
        qtype.to_bytes(2, "big") + b"\x00\x01"


def test_captive_dns_answers_every_name_with_the_device(device):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT_S)
        # Garbage first: dropped without an answer, and the responder goes on.
        for junk in (b"", b"\x00" * 5, b"\xff" * 600, dns_query("x.y")[:14]):
            sock.sendto(junk, ("127.0.0.1", device.dns_port))
        for name in ("connectivitycheck.gstatic.com", "captive.apple.com", "example.com"):
            sock.sendto(dns_query(name), ("127.0.0.1", device.dns_port))
            answer, _ = sock.recvfrom(512)
            assert answer[:2] == b"\x12\x34" and answer[2] & 0x80  # our id, a response
            assert answer[6:8] == b"\x00\x01"
            assert answer[-4:] == bytes([127, 0, 0, 1])
        sock.sendto(dns_query("example.com", qtype=28), ("127.0.0.1", device.dns_port))
        answer, _ = sock.recvfrom(512)
        assert answer[6:8] == b"\x00\x00"  # AAAA: no answer, NOERROR (falls back to A)
    still_serving(device)
