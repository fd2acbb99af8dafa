"""A static HTTPS server for an over-the-air release folder, with fault switches for tests.

usage: python -m tools.ota.serve DIR --tls-cert CERT.pem [--tls-key KEY.pem]
                                 [--host 127.0.0.1] [--port 8443] [--fault KIND:PATH ...]

Serves DIR (a folder `make release` built, e.g. out/release/1.2.0) under /, the way any static
host does: HTTP/1.1 GET, 200 with Content-Length, kept-alive connections. Set the board's
ota_url to https://<this host>:<port>/ and its ca_file to a CA that signed CERT (for a board on
your LAN: --host 0.0.0.0 and a certificate for your computer's name or address).

Faults, each on one served path (tests set them on OtaServer.faults; --fault for manual tries):
  truncate   the file served shorter than it is (and its Content-Length says so)
  corrupt    one byte changed, same length: the hash differs
  drop       the connection closed halfway through the body, every time
  drop-once  the same, the first time that path is asked for only
  status:N   HTTP N instead of the file
Every request is recorded in OtaServer.requests (the paths), so a test sees what was fetched.
"""

import argparse
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_TIMEOUT_S = 30  # an idle kept-alive connection is closed after this


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = _TIMEOUT_S
    server_version = "ota-static/1"

    def log_message(self, fmt, *args):  # quiet: tests read OtaServer.requests instead
        pass

    def do_GET(self):
        ota = self.server.ota
        rel = self.path.split("?", 1)[0].lstrip("/")
        with ota.lock:
            ota.requests.append(rel)
            fault = ota.faults.get(rel)
            if fault == "drop-once":
                del ota.faults[rel]
        local = os.path.realpath(os.path.join(ota.root, rel))
        if not local.startswith(ota.root + os.sep) or not os.path.isfile(local):
            return self._status(404)
        if fault and fault.startswith("status:"):
            return self._status(int(fault[7:]))
        with open(local, "rb") as f:
            data = f.read()
        if fault == "truncate":
            data = data[: len(data) // 2]
        elif fault == "corrupt" and data:
            mid = len(data) // 2
            data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault in ("drop", "drop-once"):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def _status(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        # The TLS handshake happens in the handler's thread, under its timeout: a client that
        # stalls it cannot stop the server accepting others.
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        pass  # a client that went away mid-body (the drop faults) is expected here


class OtaServer:
    """Serve `root` over HTTPS with the server SSLContext `ctx`; start() returns self."""

    def __init__(self, root, ctx, host="127.0.0.1", port=0):
        self.root = os.path.realpath(root)
        self.faults = {}
        self.requests = []
        self.lock = threading.Lock()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.ctx = ctx
        self._httpd.ota = self
        self._thread = None

    @property
    def port(self):
        return self._httpd.server_address[1]

    def url(self, host="127.0.0.1"):
        return "https://%s:%d/" % (host, self.port)

    def start(self):
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)


def server_context(cert, key=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="the release folder (out/release/<version>)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8443)
    ap.add_argument("--tls-cert", required=True, metavar="PEM")
    ap.add_argument("--tls-key", metavar="PEM", help="its key (default: in the --tls-cert file)")
    ap.add_argument("--fault", action="append", default=[], metavar="KIND:PATH")
    args = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(args.dir, "manifest.json")):
        ap.error("%s has no manifest.json: give a folder `make release` built" % args.dir)
    try:
        ctx = server_context(args.tls_cert, args.tls_key)
    except (OSError, ValueError) as exc:
        ap.error("--tls-cert/--tls-key: cannot load the certificate and key: %s" % exc)
    srv = OtaServer(args.dir, ctx, args.host, args.port)
    for spec in args.fault:
        kind, _, path = spec.rpartition(":") if spec.startswith("status:") else spec.partition(":")
        srv.faults[path] = kind
    print("serving %s at %s" % (args.dir, srv.url(args.host)), flush=True)
    try:
        srv._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
