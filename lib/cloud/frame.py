# The uplink audio message, built in one preallocated buffer: zero allocation per frame.
#
# Layout: [HEADER_ROOM bytes][JSON prefix with the id][base64 of the frame][JSON suffix]
# The WebSocket client writes its header into the room in front and masks the payload in place
# (websock send_inplace), so every call rewrites the whole payload: prefix copy (a bytes-into-
# bytearray slice store, which MicroPython does without allocating), id characters, base64,
# suffix. The 2-item list returned is reused: unpack it (`buf, n = ...`), don't keep it.
#
# Ids are ID_WIDTH characters of the base64url alphabet (24 bits, 16.7 M distinct ids). They are
# short on purpose: at 20 ms of 16 kHz PCM per message every id character costs 50 bytes/s, and
# the uplink budget (tests/mp/bench_cloud.py, wire_overhead_ratio <= 1.10) leaves room for 4.
import b64

HEADER_ROOM = 14  # == websock.HEADER_ROOM; not imported so this layer works without websock
ID_WIDTH = 4
_ID_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def write_id(buf, pos, seq):
    """Write the ID_WIDTH characters of seq at buf[pos:]; allocation-free."""
    k = ID_WIDTH - 1
    while k >= 0:
        buf[pos + k] = _ID_CHARS[seq & 63]
        seq >>= 6
        k -= 1


def id_text(seq):
    out = bytearray(ID_WIDTH)
    write_id(out, 0, seq)
    return out.decode()


_PLACEHOLDER = b"." * ID_WIDTH


class AppendFrame:
    def __init__(self, prefix, suffix, max_bytes):
        # prefix: the JSON before the base64, with ID_WIDTH dots where the id goes (found here,
        # not counted by hand: a prefix without exactly one placeholder is refused).
        id_at = prefix.find(_PLACEHOLDER)
        if id_at < 0 or prefix.find(_PLACEHOLDER, id_at + 1) >= 0:
            raise ValueError("append frame prefix needs one %r id placeholder" % _PLACEHOLDER)
        self.prefix = prefix
        self.suffix = suffix
        self.max_bytes = max_bytes
        self._id_at = HEADER_ROOM + id_at
        self._data_at = HEADER_ROOM + len(prefix)
        size = self._data_at + b64.encoded_len(max_bytes) + len(suffix)
        self.buf = bytearray(size)
        self._out = [self.buf, 0]

    def payload_len(self, nbytes):
        return len(self.prefix) + b64.encoded_len(nbytes) + len(self.suffix)

    def build(self, pcm, nbytes, seq):
        if nbytes > self.max_bytes:
            raise ValueError("audio frame of %d bytes exceeds the %d-byte frame buffer"
                             % (nbytes, self.max_bytes))
        buf = self.buf
        data_at = self._data_at
        buf[HEADER_ROOM:data_at] = self.prefix
        write_id(buf, self._id_at, seq)
        end = data_at + b64.encode_into(pcm, nbytes, buf, data_at)
        stop = end + len(self.suffix)
        buf[end:stop] = self.suffix
        self._out[1] = stop - HEADER_ROOM
        return self._out
