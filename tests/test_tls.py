"""wss:// for real, with a PKI made at test time (tools/certs/testpki).

The device's WebSocket client (lib/websock, run by tools/certs/wss_probe.py) connects to a TLS
fake cloud under the MicroPython unix port (the device's mbedtls) and under CPython: the right
CA talks, and a wrong CA, an expired or not-yet-valid certificate and a host name mismatch each
end in one TLSError whose reason says which. What the port's ssl itself raises is pinned here
too. Then the app, in the simulator: a certificate failure is one error line and no retry storm;
the right CA completes a push-to-talk turn.
"""

import asyncio
import json
import os
import socket
import sys

import pytest

from tools.certs.testpki import make_pki
from tools.cloud.fake_cloud import FakeCloud
from tools.sim.harness import SimOptions, Simulation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
PROBE = os.path.join(ROOT, "tools", "certs", "wss_probe.py")
TOKEN = "pat_tls_test_9f3c1d7e55"
UPDATE = '{"event_type": "chat.update", "data": {}}'
RUNTIMES = {"micropython": MICROPYTHON, "cpython": sys.executable}

needs_micropython = pytest.mark.skipif(
    not os.path.exists(MICROPYTHON), reason="no .venv/bin/micropython: run `make setup`")


def localhost_is_127():
    try:
        return socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)[0][4][0] == "127.0.0.1"
    except OSError:
        return False


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("pki")))


async def _run(argv, timeout=60, env=None):
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


# ---- the client: wss_probe.py under each runtime -------------------------------------------

# name: (server certificate, CA file the client trusts, host in the URL, expected reason)
CASES = {
    "right CA, PEM": ("good", "ca_pem", "127.0.0.1", None),
    "right CA, DER": ("good", "ca_der", "127.0.0.1", None),
    "right CA, by name": ("good", "ca_pem", "localhost", None),
    "wrong CA": ("good", "other_ca_pem", "127.0.0.1", "ca"),
    "server of another CA": ("otherca", "ca_pem", "127.0.0.1", "ca"),
    "expired": ("expired", "ca_pem", "127.0.0.1", "date"),
    "not yet valid": ("notyet", "ca_pem", "127.0.0.1", "date"),
    "host name mismatch": ("wronghost", "ca_pem", "127.0.0.1", "name"),
    "host name mismatch, by name": ("wronghost", "ca_pem", "localhost", "name"),
}
MESSAGES = {
    "ca": "TLS: %s's certificate is not signed by a trusted CA",
    "date": "TLS: %s's certificate has expired or is not yet valid",
    "name": "TLS: %s's certificate is for another host name",
}


def probe(pki, runtime, server, ca_file, host):
    async def main():
        async with FakeCloud(token=TOKEN, ssl=pki.server_context(server)) as cloud:
            url = "wss://%s:%d/v1/chat?bot_id=7" % (host, cloud.port)
            env = dict(os.environ, TLS_TEST_TOKEN=TOKEN)
            return await _run([RUNTIMES[runtime], PROBE, url, ca_file, "--token-env",
                               "TLS_TEST_TOKEN", "--send", UPDATE], env=env)

    code, out, err = asyncio.run(main())
    assert out.strip(), "the probe printed nothing: " + err
    return code, json.loads(out.strip().splitlines()[-1]), out + err


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_client_verifies_the_certificate(pki, runtime, case):
    if runtime == "micropython" and not os.path.exists(MICROPYTHON):
        pytest.skip("no .venv/bin/micropython: run `make setup`")
    server, ca_attr, host, reason = CASES[case]
    if host == "localhost" and not localhost_is_127():
        pytest.skip("localhost does not resolve to 127.0.0.1 first here")
    code, got, output = probe(pki, runtime, server, getattr(pki, ca_attr), host)
    assert TOKEN not in output
    if reason is None:
        assert code == 0 and got["ok"], got
        assert json.loads(got["first"])["event_type"] == "chat.created"
        assert got["reply"].startswith('{"event_type": "chat.updated"'), got
    else:
        assert code == 1 and not got["ok"], got
        # One exception, one line, the same under both runtimes.
        assert (got["error"], got["reason"]) == ("TLSError", reason), got
        assert got["message"] == MESSAGES[reason] % host


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_a_pem_bundle_and_unreadable_cadata(pki, tmp_path, runtime):
    # MicroPython's unix port refuses PEM (no mbedtls PEM parser): websock loads each certificate
    # of the bundle as DER, so the deployed certs/ca.pem format works there too.
    if runtime == "micropython" and not os.path.exists(MICROPYTHON):
        pytest.skip("no .venv/bin/micropython: run `make setup`")
    bundle = tmp_path / "bundle.pem"
    with open(pki.other_ca_pem, "rb") as a, open(pki.ca_pem, "rb") as b:
        bundle.write_bytes(a.read() + b.read())
    code, got, _ = probe(pki, runtime, "good", str(bundle), "127.0.0.1")
    assert code == 0 and got["ok"], got
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    code, got, _ = probe(pki, runtime, "good", str(junk), "127.0.0.1")
    assert (got["error"], got["reason"]) == ("TLSError", "cadata"), got
    assert "cadata holds no certificate" in got["message"]


# ---- what the unix port's ssl itself does (measured; websock's mapping rests on it) --------

_RAW = r"""
import socket, ssl, sys
def load(p):
    with open(p, "rb") as f:
        return f.read()
port, ca_pem, ca_der = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
try:
    ctx.load_verify_locations(cadata=load(ca_pem))
    print("pem: loaded")
except ValueError as e:
    print("pem: ValueError", e)
for host in sys.argv[4:]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=load(ca_der))
    s = socket.socket()
    s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    try:
        if host == "-":
            ctx.wrap_socket(s)
        else:
            ctx.wrap_socket(s, server_hostname=host)
        print(host, "ok")
    except ValueError as e:
        print(host, "ValueError", repr(str(e).strip()))
    s.close()
"""


@needs_micropython
@pytest.mark.parametrize("server,expect", [
    ("good", {"127.0.0.1": "ok", "wrong.example": "The certificate Common Name (CN) does not "
              "match with the expected CN", "-": "CERT_REQUIRED requires server_hostname"}),
    ("expired", {"127.0.0.1": "The certificate validity has expired"}),
    ("notyet", {"127.0.0.1": "The certificate validity starts in the future"}),
    ("wronghost", {"127.0.0.1": "The certificate Common Name (CN) does not match with the "
                   "expected CN", "wrong.example": "ok"}),
    ("otherca", {"127.0.0.1": "The certificate is not correctly signed by the trusted CA"}),
])
def test_what_the_unix_ports_ssl_checks(pki, tmp_path, server, expect):
    # Host name (SAN IP and DNS, from server_hostname) and dates (against the host clock) are
    # checked; PEM cadata is refused with "invalid cert"; a failed check is a ValueError.
    script = tmp_path / "raw.py"
    script.write_text(_RAW)

    async def main():
        async with FakeCloud(token=TOKEN, ssl=pki.server_context(server)) as cloud:
            return await _run([MICROPYTHON, str(script), str(cloud.port), pki.ca_pem,
                               pki.ca_der, *expect])

    code, out, err = asyncio.run(main())
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "pem: ValueError invalid cert"
    got = dict(line.split(" ", 1) for line in lines[1:])
    for host, want in expect.items():
        assert got[host] == ("ok" if want == "ok" else "ValueError %r" % want), (host, got)


# ---- the app in the simulator (CPython) ----------------------------------------------------


def simulate(pki, server="good", ca_file=None, presses=(), duration=5.0):
    """The app -> wss:// recorder presenting `server`'s certificate -> wss:// fake cloud."""
    async def session():
        async with FakeCloud(token=TOKEN, ssl=pki.server_context("good")) as cloud:
            options = SimOptions(url="wss://127.0.0.1:%d" % cloud.port, token=TOKEN,
                                 upstream_ca=pki.ca_pem, tls=pki.server(server),
                                 extra_config={"ca_file": ca_file or pki.ca_pem}, echo=None,
                                 presses=list(presses), duration=duration)
            return await Simulation(options).run()

    return asyncio.run(asyncio.wait_for(session(), 120))


def states(result):
    return [s for _, s in result.states()]


def errors(result):
    return [line for line in result.log if " E " in line]


def attempts(result):
    return [line for line in result.log if " connecting to wss://" in line]


def test_the_app_stops_on_a_wrong_ca_with_one_line(pki):
    result = simulate(pki, ca_file=pki.other_ca_pem, duration=5.0)
    seen = states(result)
    assert seen == ["WIFI", "CONNECTING", "ERROR"], seen
    # One attempt in 5 s, not a retry storm, and exactly one error line saying what to fix.
    assert len(attempts(result)) == 1
    (line,) = errors(result)
    assert " E net    TLS: 127.0.0.1's certificate is not signed by a trusted CA: put the " \
           "server's root CA in ca_file %s (tools/certs/README.md), then press" \
           % pki.other_ca_pem in line, line
    assert not any("up" in r for r in result.session.records)
    assert not any(TOKEN in line for line in result.log)
    assert result.crashed is None


@pytest.mark.parametrize("server,hint", [
    ("expired", "TLS: 127.0.0.1's certificate has expired or is not yet valid: check the device "
                "clock (NTP) and the server's certificate dates, then press"),
    ("wronghost", "TLS: 127.0.0.1's certificate is for another host name: check the host name "
                  "in base_url, then press"),
])
def test_a_certificate_failure_waits_for_a_press(pki, server, hint):
    result = simulate(pki, server=server, presses=[(2.5, 2.7)], duration=4.0)
    seen = states(result)
    assert seen == ["WIFI", "CONNECTING", "ERROR", "CONNECTING", "ERROR"], seen
    # The press is the only retry: one attempt and one line each.
    assert len(attempts(result)) == 2
    lines = errors(result)
    assert len(lines) == 2 and all(hint in line for line in lines), lines


def test_the_right_ca_talks(pki):
    result = simulate(pki, presses=[(1.0, 3.0)], duration=None)
    seen = states(result)
    assert seen[:3] == ["WIFI", "CONNECTING", "READY"], seen
    assert "SPEAKING" in seen and seen[-1] == "READY", seen
    sent = [r["up"]["event_type"] for r in result.session.records if "up" in r]
    assert "input_audio_buffer.complete" in sent
    assert errors(result) == [] and result.crashed is None
    assert any("'base_url': 'wss://127.0.0.1:" in line for line in result.log)


def test_tls_true_makes_its_own_test_ca():
    result = asyncio.run(Simulation(SimOptions(tls=True, echo=None, mic=None,
                                               duration=1.5)).run())
    assert states(result)[:3] == ["WIFI", "CONNECTING", "READY"]
    assert errors(result) == []


@needs_micropython
def test_the_app_on_micropython_over_wss(pki):
    # The deployed firmware in the unix port (tools/sim --runtime micropython), its ca_file the
    # PEM test CA that tls=True makes: the device's own mbedtls verifies the recorder.
    def run(**kw):
        return asyncio.run(Simulation(SimOptions(runtime="micropython", tls=True, echo=None,
                                                 **kw)).run())

    result = run(presses=[(1.0, 3.0)], duration=7.0)
    if any("no module named 'ssl'" in line for line in result.log):
        pytest.skip("the micropython sim runtime cannot import ssl (its sys.path lacks "
                    "'.frozen', where the unix port keeps ssl)")
    seen = states(result)
    assert seen[:3] == ["WIFI", "CONNECTING", "READY"], result.log
    assert "SPEAKING" in seen and errors(result) == [], result.log
    result = run(extra_config={"ca_file": pki.other_ca_pem}, duration=3.0)
    assert states(result) == ["WIFI", "CONNECTING", "ERROR"], result.log
    (line,) = errors(result)
    assert "TLS: 127.0.0.1's certificate is not signed by a trusted CA: put" in line, line


def test_fake_cloud_cli_checks_its_tls_flags(pki, capsys):
    from tools.cloud import fake_cloud

    cert, key = pki.server("good")
    _, wrong_key = pki.server("expired")
    for argv, says in ((["--tls-key", key], "--tls-key needs --tls-cert"),
                       (["--tls-cert", cert + ".missing"], "no such file"),
                       (["--tls-cert", cert, "--tls-key", wrong_key], "cannot load")):
        with pytest.raises(SystemExit) as info:
            fake_cloud.main(argv)
        assert info.value.code == 2 and says in capsys.readouterr().err
