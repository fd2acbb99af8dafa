# A small HTTP/1.1 server for setup mode: one request per connection, answered, then closed.
#
# Setup mode faces whatever joins the access point, so every input has a bound and every bound
# has a defined answer, after which the connection closes and the server goes on serving:
#   request line + headers over _MAX_HEAD bytes, or over _MAX_HEADERS lines    431
#   a body (Content-Length) over _MAX_BODY bytes: answered before it is read   413
#   POST without Content-Length                                                411
#   Transfer-Encoding (chunked bodies)                                         501
#   a malformed request line or header, a bad length, not HTTP/1.x            400
#   a form that is not UTF-8 or not percent-encoded properly                  400
#   a method other than GET or POST                                            405
#   the whole exchange not done within request_ms (a slowloris client)        408
#   more than max_conn connections at once: the extra ones                     503
# Request is the sans-IO parser (fed bytes, raises HttpError); Server only moves bytes, in
# bounded chunks: MicroPython's asyncio readline() is unbounded, so it is never used.
import asyncio

try:
    from micropython import const
except ImportError:  # CPython (the simulator, pytest)
    const = lambda x: x  # noqa: E731

_MAX_HEAD = const(4096)  # a phone's browser sends ~1 KB of headers
_MAX_HEADERS = const(40)
_MAX_BODY = const(4096)  # the form is < 1 KB; percent-encoding can triple a value
_MAX_FIELDS = const(16)
_MAX_CONN = const(4)
_REQUEST_MS = const(10000)
_CHUNK = const(512)
_DRAIN_BYTES = const(16384)
_DRAIN_MS = const(300)
_WRITE_MS = const(2000)

REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
           413: "Content Too Large", 415: "Unsupported Media Type",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable"}


class HttpError(Exception):
    """An answer instead of a page: status and one line saying what to do."""

    def __init__(self, status, text):
        super().__init__(text)
        self.status = status
        self.text = text


class Request:
    """The request parser: feed() bytes until it returns True. Keeps only what setup mode needs
    (method, path, query, host, content type, body); other headers are counted, then dropped."""

    def __init__(self, max_head=_MAX_HEAD, max_headers=_MAX_HEADERS, max_body=_MAX_BODY):
        self.max_head = max_head
        self.max_headers = max_headers
        self.max_body = max_body
        self.method = self.path = None
        self.query = ""
        self.host = ""
        self.content_type = ""
        self.length = None
        self.body = b""
        self._head = b""  # bytes until the blank line; then None
        self._chunks = []
        self._got = 0

    def feed(self, data):
        if self._head is not None:
            head = self._head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                # Checked on every chunk, so a flood of headers is refused as soon as it is one.
                if len(head) > self.max_head or head.count(b"\n") > self.max_headers:
                    raise HttpError(431, "request headers too large; reload the page")
                self._head = head
                return False
            if end > self.max_head:
                raise HttpError(431, "request headers too large; reload the page")
            self._head = None
            self._parse_head(head[:end])
            data = head[end + 4:]
        if self._got < self.length:
            data = data[:self.length - self._got]  # a pipelined request after it is ignored
            self._chunks.append(data)
            self._got += len(data)
        if self._got < self.length:
            return False
        self.body = b"".join(self._chunks)
        self._chunks = None
        return True

    def _parse_head(self, head):
        lines = head.split(b"\r\n")
        if len(lines) - 1 > self.max_headers:
            raise HttpError(431, "too many request headers; reload the page")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            raise HttpError(400, "not an HTTP/1.x request line")
        target = parts[1]
        if not target.startswith(b"/"):
            raise HttpError(400, "the request path must start with /")
        try:
            method = parts[0].decode()
            path, _, query = target.decode().partition("?")
        except UnicodeError:
            raise HttpError(400, "the request line is not UTF-8 text") from None
        if method not in ("GET", "POST"):
            raise HttpError(405, "only GET and POST are served here")
        self.method, self.path, self.query = method, path, query
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or line[0] in (9, 32):
                raise HttpError(400, "malformed header line")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                self._set_length(value)
            elif name == b"transfer-encoding":
                raise HttpError(501, "chunked request bodies are not accepted; send a length")
            elif name == b"content-type":
                self.content_type = _text(value).lower()
            elif name == b"host":
                self.host = _text(value)
        if self.length is None:
            if method == "POST":
                raise HttpError(411, "a form needs a Content-Length; submit it from the page")
            self.length = 0

    def _set_length(self, value):
        if not value or len(value) > 9 or not value.isdigit():
            raise HttpError(400, "bad Content-Length")
        length = int(value)
        if self.length is not None and self.length != length:
            raise HttpError(400, "two different Content-Length headers")
        if length > self.max_body:
            raise HttpError(413, "the form is over %d bytes; shorten the values" % self.max_body)
        self.length = length


def _text(raw):
    try:
        return raw.decode()
    except UnicodeError:
        return ""


def _hex(c):
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:
        return c - 87
    return -1


def unquote(raw):
    """application/x-www-form-urlencoded bytes -> str; HttpError(400) on a bad escape or on
    bytes that are not UTF-8."""
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == 43:  # '+'
            out.append(32)
            i += 1
        elif c == 37:  # '%'
            hi = _hex(raw[i + 1]) if i + 1 < n else -1
            lo = _hex(raw[i + 2]) if i + 2 < n else -1
            if hi < 0 or lo < 0:
                raise HttpError(400, "the form has a broken %-escape; submit it from the page")
            out.append(hi * 16 + lo)
            i += 3
        else:
            out.append(c)
            i += 1
    try:
        return out.decode()
    except UnicodeError:
        raise HttpError(400, "the form is not UTF-8 text; reload the page and submit it "
                        "again") from None


def parse_form(body, max_fields=_MAX_FIELDS):
    """The fields of a urlencoded body as a dict of str (the last of a repeated name wins)."""
    form = {}
    if not body:
        return form
    pairs = body.split(b"&")
    if len(pairs) > max_fields:
        raise HttpError(400, "the form has too many fields; submit it from the page")
    for pair in pairs:
        name, _, value = pair.partition(b"=")
        form[unquote(name)] = unquote(value)
    return form


def response(status, body=b"", content_type="text/html; charset=utf-8", headers=""):
    """The head of an answer; `headers` is extra "Name: value\r\n" lines."""
    return ("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n"
            % (status, REASONS.get(status, "Error"), content_type, len(body), headers)).encode()


class Server:
    """Serves `handler(request)` -> (status, body bytes, extra header lines); the handler may
    raise HttpError. Counts what it answered in `answered` (status -> count) for tests."""

    def __init__(self, handler, max_conn=_MAX_CONN, request_ms=_REQUEST_MS, log=None):
        self.handler = handler
        self.max_conn = max_conn
        self.request_ms = request_ms
        self.log = log
        self.active = 0
        self.answered = {}
        self._server = None

    async def start(self, host, port):
        # A backlog past max_conn: the extra connections are accepted and told 503, not dropped.
        self._server = await asyncio.start_server(self._client, host, port,
                                                  backlog=self.max_conn + 2)

    async def stop(self):
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _client(self, reader, writer):
        if self.active >= self.max_conn:
            await self._send(writer, 503, b"busy: close other tabs and try again\n",
                             "text/plain; charset=utf-8")
            await _close(writer)
            return
        self.active += 1
        sent = [False]
        try:
            await asyncio.wait_for_ms(self._serve(reader, writer, sent), self.request_ms)
        except asyncio.TimeoutError:
            if not sent[0]:
                await self._send(writer, 408, b"the request took too long; try again\n",
                                 "text/plain; charset=utf-8")
        except OSError:
            pass  # the client reset the connection: nobody left to answer
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop setup mode
            if self.log is not None:
                self.log.error("setup", "request failed: %r" % (exc,))
            if not sent[0]:
                await self._send(writer, 500, b"internal error; reload the page\n",
                                 "text/plain; charset=utf-8")
        finally:
            self.active -= 1
            await _close(writer)

    async def _serve(self, reader, writer, sent):
        request = Request()
        complete = False
        try:
            while not complete:
                data = await reader.read(_CHUNK)
                if not data:
                    return  # gone before a whole request: nobody to answer
                complete = request.feed(data)
            status, body, headers = await self.handler(request)
        except HttpError as exc:
            sent[0] = True
            await self._send(writer, exc.status, (exc.text + "\n").encode(),
                             "text/plain; charset=utf-8")
            if not complete:
                await _discard(reader)
            return
        sent[0] = True
        await self._send(writer, status, body, headers=headers)

    async def _send(self, writer, status, body, content_type="text/html; charset=utf-8",
                    headers=""):
        self.answered[status] = self.answered.get(status, 0) + 1
        try:
            writer.write(response(status, body, content_type, headers))
            if body:
                writer.write(body)
            await asyncio.wait_for_ms(writer.drain(), _WRITE_MS)
        except (OSError, asyncio.TimeoutError):
            pass  # the client left or stopped reading: nothing more to do for it


async def _discard(reader):
    # Read (and drop) what the client is still sending for a moment: closing a socket with
    # unread data makes the kernel reset the connection, which can destroy the answer in flight.
    got = 0
    try:
        while got < _DRAIN_BYTES:
            data = await asyncio.wait_for_ms(reader.read(_CHUNK), _DRAIN_MS)
            if not data:
                return
            got += len(data)
    except (OSError, asyncio.TimeoutError):
        pass


async def _close(writer):
    try:
        writer.close()
        await writer.wait_closed()
    except OSError:
        pass
