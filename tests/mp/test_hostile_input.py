# Hostile server input under real MicroPython: the WebSocket decoder and session.feed() get the
# same hostile vectors as tests/test_hostile_*.py, plus a seeded mutation fuzz (no Hypothesis
# here), and must raise nothing but their documented errors.
import json
import random

from cloud import base
from cloud.coze_chat import CozeChat
from cloud.errors import ProtocolError as CloudProtocolError
from cloud.qwen_omni import QwenOmni
from websock import frame
from websock.errors import MessageTooBig, ProtocolError
from websock.frame import BINARY, CLOSE, PING, TEXT

AUDIO = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v" * 8


def _frame(op, payload, fin=True):
    return bytes(frame.encode(op, payload, None, fin))


def _decode(data, part_size=1024, chunk=7):
    dec = frame.Decoder(part_size)
    events = []
    try:
        for i in range(0, len(data), chunk):
            dec.feed(data[i:i + chunk], events.append)
    except (ProtocolError, MessageTooBig) as exc:
        events.append(exc)
    return dec, events


def test_invalid_utf8_text_is_protocol_error_1007():
    _, ev = _decode(_frame(TEXT, b'{"a":"\xc3\x28"}'))
    assert isinstance(ev[-1], ProtocolError) and ev[-1].code == 1007


def test_10_mb_message_streams_in_parts_of_the_buffer():
    head = bytes([0x81, 127, 0, 0, 0, 0, 0, 0xA0, 0, 0])  # 10 MiB announced, 4 bytes sent
    dec, ev = _decode(head + b"xxxx")
    assert ev == [TEXT] and dec.n == 4 and not dec.fin and dec.frame_left() == 10 * 1024 * 1024 - 4
    assert len(dec.buf) == 1024


def test_zero_length_frames():
    data = _frame(TEXT, b"") + _frame(PING, b"") + _frame(BINARY, b"") + _frame(CLOSE, b"")
    dec, ev = _decode(data, chunk=1)
    assert ev == [TEXT, PING, BINARY, CLOSE] and dec.close_code == 1005


def test_invalid_close_codes():
    for code in (999, 1004, 1005, 1006, 1015, 2000, 5000):
        _, ev = _decode(_frame(CLOSE, bytes((code >> 8, code & 0xFF))))
        assert isinstance(ev[-1], ProtocolError), code
    _, ev = _decode(_frame(CLOSE, b"\x03"))
    assert isinstance(ev[-1], ProtocolError)


def test_a_thousand_pings_between_messages():
    data = b"".join(_frame(PING, b"%d" % i) for i in range(1000)) + _frame(TEXT, b"ok")
    dec, ev = _decode(data, chunk=64)
    assert ev.count(PING) == 1000 and ev[-1] == TEXT and bytes(dec.buf[: dec.n]) == b"ok"


def test_decoder_fuzz_raises_only_documented_errors():
    rng = random.Random(7) if hasattr(random, "Random") else None
    rand = rng.getrandbits if rng else random.getrandbits
    random.seed(7)
    base_data = _frame(TEXT, b'{"x":1}') + _frame(PING, b"p") + _frame(BINARY, b"\x00" * 300)
    for _ in range(300):
        b = bytearray(base_data)
        for _ in range(1 + rand(2)):
            b[rand(16) % len(b)] = rand(8)
        _decode(bytes(b), part_size=256, chunk=1 + rand(5))


def _m(event_type, data=None):
    out = {"id": "e1", "event_type": event_type}
    if data is not None:
        out["data"] = data
    return json.dumps(out).encode()


def _delta(content):
    return _m("conversation.audio.delta", {"id": "m", "chat_id": "c", "content": content})


ERR = "err"
CASES = (
    (b"{not json", ERR), (b"", ERR), (b"[1,2]", ERR), (b'{"event_type":5}', ERR),
    (_m("error", {"code": "4100"}), base.EV_ERROR), (_delta(12345), ERR), (_delta(None), ERR),
    (_m("conversation.message.delta", {"role": "assistant", "type": "answer",
                                       "content": "a" * 20000}), base.EV_TEXT),
    (_m("mystery.event", {"a": [1, {"b": 2}]}), base.EV_IGNORED),
    (_delta("AA=A" + AUDIO), ERR), (_delta(AUDIO[:-1]), ERR), (_delta(""), base.EV_AUDIO),
    (_delta(AUDIO[:200] + "*" + AUDIO[201:]), ERR),
)


def _outcome(session, payload):
    try:
        ev = session.feed(payload)
        if ev.kind == base.EV_AUDIO:
            dst = bytearray(96)
            while ev.read_audio(dst):
                pass
        return ev.kind
    except CloudProtocolError:
        return ERR


def test_hostile_messages_have_defined_outcomes():
    s = CozeChat({"bot_id": "123"}, log=lambda line: None)
    for payload, want in CASES:
        got = _outcome(s, payload)
        assert got == want, (payload[:60], got, want)
        assert s.feed(_m("chat.created")).kind == base.EV_CREATED  # still usable


def test_feed_fuzz_raises_only_protocol_error():
    random.seed(11)
    good = (_delta(AUDIO), _m("conversation.chat.completed", {"id": "c"}),
            _m("error", {"code": 4100, "msg": "x"}), _m("chat.updated", {"a": 1}))
    sessions = (CozeChat({"bot_id": "123"}, log=lambda line: None),
                QwenOmni({}, log=lambda line: None))
    for i in range(400):
        b = bytearray(good[i % len(good)])
        for _ in range(1 + random.getrandbits(2)):
            b[random.getrandbits(16) % len(b)] = random.getrandbits(8)
        _outcome(sessions[i & 1], bytes(b))
