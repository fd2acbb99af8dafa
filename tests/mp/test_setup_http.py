# Setup mode's sans-IO parts under real MicroPython (WebAssembly and unix): the HTTP request
# parser and its bounds, the form decoder (UTF-8 strictness is the port's own), the captive DNS
# answer, the access point's name and password, and the form -> config check. The socket side
# runs under the unix port in tests/test_setup_http.py (the simulator's setup mode).
import gc

from app.setup import dns, http, ident, submit

import mptest


def _status(raw, chunk=7):
    # Fed in small chunks, as a slow network delivers it: bounds must hold at every step.
    req = http.Request()
    try:
        for i in range(0, len(raw), chunk):
            if req.feed(raw[i:i + chunk]):
                return 0, req
    except http.HttpError as exc:
        return exc.status, req
    return None, req


def test_a_form_post_parses():
    body = b"wifi_ssid=caf%C3%A9+wifi&token=pat_x%2By&board=esp32s3_inmp441"
    raw = (b"POST /?a=1 HTTP/1.1\r\nHost: 192.168.4.1\r\nContent-Type: application/"
           b"x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    status, req = _status(raw)
    assert status == 0, status
    assert req.method == "POST" and req.path == "/" and req.query == "a=1"
    assert req.host == "192.168.4.1" and req.content_type.startswith("application/x-www")
    form = http.parse_form(req.body)
    assert form == {"wifi_ssid": "café wifi", "token": "pat_x+y", "board": "esp32s3_inmp441"}


def test_every_bound_has_its_answer():
    cases = (
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 10000 + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nX: " + b"y" * 5000 + b"\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\n\r\n", 411),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        (b"PUT / HTTP/1.1\r\n\r\n", 405),
        (b"GET / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400),
        (b"GET \xff\xfe HTTP/1.1\r\n\r\n", 400),
        (b"GET http://x/ HTTP/1.1\r\n\r\n", 400),
        (b"\r\n\r\n", 400),
    )
    for raw, expected in cases:
        status, _ = _status(raw, chunk=512)
        assert status == expected, (raw[:40], status, expected)


def test_a_header_flood_is_refused_before_it_is_all_in():
    req = http.Request()
    fed = 0
    try:
        req.feed(b"GET / HTTP/1.1\r\n")
        for _ in range(10000):
            req.feed(b"X-Flood: v\r\n")
            fed += 1
    except http.HttpError as exc:
        assert exc.status == 431
    assert fed <= req.max_headers, fed


def test_the_body_is_cut_at_its_length():
    status, req = _status(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1")
    assert status == 0 and req.body == b"abc"


def test_form_data_that_is_not_utf8_is_refused():
    for body in (b"a=%FF", b"a=\xff\xfe", b"a=%C3", b"a=%E2%82", b"a=%zz", b"a=%4"):
        try:
            http.parse_form(body)
        except http.HttpError as exc:
            assert exc.status == 400
        else:
            raise AssertionError(body)
    try:
        http.parse_form(b"&".join([b"a=1"] * 17))
    except http.HttpError as exc:
        assert exc.status == 400
    else:
        raise AssertionError("17 fields accepted")


def test_response_head():
    head = http.response(302, b"", headers="Location: http://192.168.4.1/\r\n")
    assert head.startswith(b"HTTP/1.1 302 Found\r\n")
    assert b"Content-Length: 0\r\n" in head and head.endswith(b"\r\n\r\n")


def _query(name, qtype=1):
    q = bytearray(b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01")
    for part in name.split("."):
        q.append(len(part))
        q.extend(part.encode())
    q.extend(b"\x00")
    q.extend(bytes((0, qtype, 0, 1)))
    q.extend(b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00")  # an EDNS OPT record
    return bytes(q)


def test_dns_answers_a_with_the_device_and_drops_the_rest():
    ip = dns.ip_bytes("192.168.4.1")
    out = dns.reply(_query("connectivitycheck.gstatic.com"), ip)
    assert out[:2] == b"\xab\xcd" and out[2] & 0x80 and out[3] == 0x80
    assert out[6:12] == b"\x00\x01\x00\x00\x00\x00" and out[-4:] == ip
    empty = dns.reply(_query("example.com", 28), ip)
    assert empty[6:8] == b"\x00\x00" and empty[3] == 0x80
    response = bytearray(_query("x.y"))
    response[2] |= 0x80
    for junk in (b"", b"\x00" * 11, bytes(600), bytes(response), _query("x.y")[:15],
                 b"\x00\x01\x01\x00\x00\x02" + bytes(6) + b"\x01a\x00\x00\x01\x00\x01",
                 b"\x00\x01\x01\x00\x00\x01" + bytes(6) + b"\xc0\x0c\x00\x01\x00\x01"):
        assert dns.reply(junk, ip) is None, junk


def test_access_point_name_and_password():
    uid = b"\x24\x0a\xc4\x12\x34\x56"
    assert ident.ssid(uid) == "voice-3456"
    pw = ident.password(uid)
    assert len(pw) == 10
    for ch in pw:
        assert ch in "abcdefghijkmnpqrstuvwxyz23456789"


def test_the_form_is_checked_by_the_boot_validator():
    form = {"wifi_ssid": "home", "wifi_password": "pw-123456", "cloud": "coze",
            "token": "Bearer pat_x", "bot_id": "74", "mode": "ptt", "board": "esp8266"}
    cfg, errors, general = submit.check(submit.merge({}, form, {}))
    assert cfg is None and general is None
    assert sorted(errors) == ["board", "token"], errors
    form["token"], form["board"] = "pat_x", "esp32s3_inmp441"
    cfg, errors, general = submit.check(submit.merge({}, form, {}))
    assert errors == {} and cfg["board"] == "esp32s3_inmp441"


def test_the_page_renders_and_its_heap():
    from app.setup import page

    gc.collect()
    before = gc.mem_alloc()
    html = page.form("voice-3456", {"wifi_ssid": "<x>"}, ["a", "b"], {"board": "bad"})
    used = gc.mem_alloc() - before
    assert "&lt;x&gt;" in html and 'id="err-board"' in html
    mptest.bench("setup_page_render_bytes_" + mptest.TIER, used, "B",
                 what="heap one render of the setup page allocates")
