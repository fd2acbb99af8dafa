# The streaming receive under real MicroPython: a delta of any size walked in pieces by the
# session (cloud/jscan.py Filter) with its base64 decoded as it streams (cloud/delta.py
# B64Stream) gives the exact audio, at every split, with the same bounded allocation per piece
# whatever the message's size.
import b64
from cloud import jscan
from cloud.coze_chat import CozeChat
from cloud.delta import B64Stream

import mptest


class Check:
    # A sink as the app's (app/audio_sink.py) minus the player: each decoded piece is compared
    # in place with the audio the message carries (nothing allocated, nothing kept).
    def __init__(self, session, want):
        self.session = session
        self.b64 = B64Stream()
        self.want = want
        self.n = 0
        self.wrong = -1  # offset of the first wrong byte
        self.scratch = bytearray(768)

    def start(self):
        known = self.session.audio_type_now()
        if known is False:
            return jscan.COPY
        self.b64.reset()
        return jscan.AUDIO if known else jscan.BOTH

    def take(self, buf, a, b):
        while a < b:
            a = self.b64.take(buf, a, b, self.scratch)
            k = self.b64.out
            for j in range(k):
                if self.n + j >= len(self.want) or self.scratch[j] != self.want[self.n + j]:
                    if self.wrong < 0:
                        self.wrong = self.n + j
            self.n += k
        return b

    def exact(self):
        return self.wrong < 0 and self.n == len(self.want) and self.b64.error is None

    def invalid(self):
        self.b64.error = "escape"

    def end(self):
        self.b64.close()


def _delta(pcm):
    text = bytearray(b64.encoded_len(len(pcm)))
    b64.encode_into(pcm, len(pcm), text)
    return (b'{"event_type":"conversation.audio.delta","id":"e7","data":{"id":"m","role":'
            b'"assistant","type":"answer","content_type":"audio","content":"' + text +
            b'","chat_id":"c9"}}')


def _pcm(n):
    out = bytearray(n)
    for i in range(n):
        out[i] = (i * 31 + (i >> 7)) & 0xFF
    return out


def _stream(session, sink, msg, piece):
    session.begin()
    view = memoryview(msg)
    for at in range(0, len(msg), piece):
        assert session.feed_part(view, at, min(len(msg), at + piece), sink) == min(len(msg),
                                                                                  at + piece)
    return session.end()


def test_a_delta_streams_exactly_at_every_piece_size():
    session = CozeChat({"bot_id": "7400000000000000000"}, log=lambda line: None)
    pcm = _pcm(5000)
    msg = _delta(pcm)
    for piece in (1, 2, 3, 5, 64, 997, len(msg)):
        sink = Check(session, pcm)
        event = _stream(session, sink, msg, piece)
        assert event.type == "conversation.audio.delta" and event.id == "e7"
        assert event.stream_id == "c9" and sink.exact(), (piece, sink.wrong, sink.n)


def test_allocation_per_piece_does_not_grow_with_the_message():
    session = CozeChat({"bot_id": "7400000000000000000"}, log=lambda line: None)
    per = []
    for size in (1500, 15000):
        pcm = _pcm(size)
        msg = _delta(pcm)
        sink = Check(session, pcm)
        _stream(session, sink, msg, 1024)  # warm-up
        sink.n = 0
        used = mptest.alloc(_stream, session, sink, msg, 1024)
        per.append(used)
        assert sink.exact()
    # Ten times the audio, the same cost: what allocates is per message (its ids, the event),
    # not per piece of audio.
    assert per[1] <= per[0] + 64, per
