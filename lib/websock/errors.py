# The exceptions the WebSocket client raises. Every one is a WebSocketError, so a caller that only
# wants "the link is gone, reconnect" catches that; the subclasses say why.
#
# A token must never reach a log line: HandshakeError's message is built only from the server's
# status line and X-Tt-Logid, and connect() scrubs the caller's header values out of those too.


class WebSocketError(Exception):
    pass


class HandshakeError(WebSocketError):
    """The server refused or botched the HTTP upgrade (status, reason and X-Tt-Logid kept)."""

    def __init__(self, message, status=None, reason="", logid=None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.logid = logid


class TLSError(WebSocketError):
    """The server's certificate failed the check, or cadata is unreadable: a configuration
    problem, not a network one. `reason`: "ca", "date", "name", "cert" or "cadata" (see tls.py)."""

    def __init__(self, message, reason, host):
        super().__init__(message)
        self.reason = reason
        self.host = host


class ProtocolError(WebSocketError):
    """The server broke RFC 6455; the client closed with `code` (1002, or 1007 for bad UTF-8)."""

    def __init__(self, message, code=1002):
        super().__init__(message)
        self.code = code


class MessageTooBig(WebSocketError):
    """A message would not fit the receive buffer; the client closed with 1009 unread."""

    code = 1009

    def __init__(self, size, limit):
        super().__init__(
            "websocket message of at least %d bytes exceeds max_message=%d: raise max_message "
            "or ask the server for smaller messages" % (size, limit)
        )
        self.size = size
        self.limit = limit


class ConnectionClosed(WebSocketError):
    """The connection is closed. Codes are None where no close frame went that way; a lost TCP
    connection reports code_received 1006 (RFC 6455 7.1.5)."""

    def __init__(self, code_sent=None, code_received=None, reason=""):
        super().__init__(
            "websocket closed (sent %s, received %s%s)"
            % (code_sent, code_received, (": " + reason) if reason else "")
        )
        self.code_sent = code_sent
        self.code_received = code_received
        self.reason = reason
