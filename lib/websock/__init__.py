# A minimal RFC 6455 WebSocket client for MicroPython (ESP32) and CPython asyncio.
# frame.py is the sans-IO framing, handshake.py the sans-IO upgrade, client.py the connection,
# connect.py opens it, kernels.py/ws_viper.py the byte loops. See client.py for the memory model.
from websock.client import WebSocket
from websock.connect import connect
from websock.errors import (
    ConnectionClosed,
    HandshakeError,
    MessageTooBig,
    ProtocolError,
    TLSError,
    WebSocketError,
)
from websock.frame import BINARY, HEADER_ROOM, TEXT

__all__ = (
    "connect",
    "WebSocket",
    "WebSocketError",
    "HandshakeError",
    "ProtocolError",
    "TLSError",
    "MessageTooBig",
    "ConnectionClosed",
    "TEXT",
    "BINARY",
    "HEADER_ROOM",
)
