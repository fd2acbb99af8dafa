"""A text message in fragments of a given size, for `websockets`' send(iterable, text=True).

A fragment may end inside a UTF-8 character (only the whole message must be UTF-8), and with
`pings` a ping goes between every two fragments (control frames may interleave, RFC 6455 5.4).
The fake cloud frames its messages this way, and the recorder frames what it relays to the
device the same way, since `websockets` hands it each message whole.
"""


def fragments(ws, raw, size, pings=False):
    for i in range(0, len(raw), size):
        if i and pings:
            ws.protocol.send_ping(b"f%d" % (i // size))
        yield raw[i:i + size]

