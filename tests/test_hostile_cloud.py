# Hostile servers at the protocol layer: session.feed() of Coze and Qwen-Omni sessions on inputs no
# real cloud should send. Each input has one defined outcome (an event kind, or ProtocolError and
# the session keeps working); Hypothesis checks that feed() and read_audio() raise nothing but
# cloud.errors.ProtocolError on anything else.
import base64
import json

import pytest
from cloud import base
from cloud.coze_chat import CozeChat
from cloud.errors import ProtocolError
from cloud.qwen_omni import QwenOmni
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ERR = "ProtocolError"
AUDIO = base64.b64encode(bytes(range(256)) * 4).decode()


def coze():
    lines = []
    s = CozeChat({"bot_id": "123"}, log=lines.append)
    s.lines = lines
    return s


def qwen():
    return QwenOmni({"model": "qwen-omni-turbo-realtime"}, log=lambda line: None)


def m(event_type, data=None, **extra):
    out = {"event_type": event_type, "id": "ev-1"}
    if data is not None:
        out["data"] = data
    out.update(extra)
    return json.dumps(out).encode()


def delta(content):
    return m("conversation.audio.delta", {"id": "m1", "chat_id": "c1", "content": content})


CASES = [
    # malformed JSON
    ("not json", b"{not json", ERR),
    ("truncated", m("conversation.chat.completed", {"id": "c1"})[:-9], ERR),
    ("trailing junk", m("chat.created") + b"}}", ERR),
    ("empty", b"", ERR),
    ("array", b"[1,2,3]", ERR),
    ("bare string", b'"chat.created"', ERR),
    ("nul bytes", b"\x00" * 16, ERR),
    # wrong types
    ("event_type number", b'{"id":"1","event_type":5}', ERR),
    ("no event_type", b'{"id":"1","data":{}}', ERR),
    ("error code string", m("error", {"code": "4100", "msg": "x"}), base.EV_ERROR),
    ("error data string", m("error", "oops"), base.EV_ERROR),
    ("failed without code", m("conversation.chat.failed", {"last_error": "x"}), ERR),
    ("delta content number", delta(12345), ERR),
    ("delta content null", delta(None), ERR),
    ("delta data list", m("conversation.audio.delta", [1, 2]), ERR),
    ("message delta content dict", m("conversation.message.delta",
                                     {"role": "assistant", "type": "answer",
                                      "content": {"x": 1}}), None),
    ("tool call args number", m("conversation.chat.requires_action", {
        "id": "c1", "required_action": {"type": "submit_tool_outputs", "submit_tool_outputs": {
            "tool_calls": [{"id": "t", "function": {"name": 5, "arguments": 7}}]}}}), None),
    # huge strings (the WebSocket layer caps a message at 32 KB; this is near that)
    ("huge text", m("conversation.message.delta", {"role": "assistant", "type": "answer",
                                                    "content": "a" * 30000}), base.EV_TEXT),
    ("huge unknown type", m("x" * 20000), base.EV_IGNORED),
    ("huge id", json.dumps({"id": "i" * 20000, "event_type": "chat.created"}).encode(),
     base.EV_CREATED),
    # unknown events
    ("unknown event", m("conversation.future.thing", {"a": 1}), base.EV_IGNORED),
    ("unknown nested", m("bot.mood", {"deep": [[[[{}]]]]}), base.EV_IGNORED),
    # base64
    ("bad padding position", delta("AA=A" + AUDIO), ERR),
    ("length not x4", delta(AUDIO[:-1]), ERR),
    ("too much padding", delta(AUDIO[:-4] + "A==="), ERR),
    ("empty audio", delta(""), base.EV_AUDIO),
    # a binary frame is not UTF-8-checked by the WebSocket layer
    ("bad utf-8 in a delta id", delta(AUDIO).replace(b'"ev-1"', b'"\xff\xfe"'), ERR),
    ("bad utf-8 in a text", m("conversation.message.delta", {"content": "x"}).replace(
        b'"x"', b'"\xc3\x28"'), ERR),
]


def outcome(session, payload):
    try:
        ev = session.feed(payload)
    except ProtocolError:
        return ERR
    if ev.kind == base.EV_AUDIO:
        dst = bytearray(2048)
        try:
            while ev.read_audio(dst):
                pass
        except ProtocolError:
            return ERR
    return ev.kind


@pytest.mark.parametrize("name, payload, want", CASES, ids=[c[0] for c in CASES])
def test_each_hostile_message_has_one_outcome_and_the_session_survives(name, payload, want):
    s = coze()
    got = outcome(s, payload)
    if want is None:
        assert got == ERR or isinstance(got, int)  # either is defined; never another exception
    else:
        assert got == want
    # The next good message still parses, and audio still decodes exactly.
    assert s.feed(m("chat.created")).kind == base.EV_CREATED
    ev = s.feed(delta(AUDIO))
    dst = bytearray(4096)
    n = ev.read_audio(dst)
    assert bytes(dst[:n]) == base64.b64decode(AUDIO)


def test_bad_byte_mid_delta_is_caught_before_any_audio_with_verify():
    s = coze()
    bad = AUDIO[:600] + "*" + AUDIO[601:]
    ev = s.feed(delta(bad))
    with pytest.raises(ProtocolError):
        ev.verify(bytearray(300))  # decodes piecewise, as the app's player feed would
    ev = s.feed(delta(AUDIO))
    scratch = bytearray(300)
    ev.verify(scratch)  # a good delta verifies and rewinds: all of it is still there
    out = bytearray()
    while True:
        n = ev.read_audio(scratch)
        if not n:
            break
        out += scratch[:n]
    assert bytes(out) == base64.b64decode(AUDIO)


def test_unknown_events_are_logged_once_each():
    s = coze()
    for _ in range(5):
        s.feed(m("mystery.event"))
    assert sum("mystery.event" in line for line in s.lines) == 1


# ---- properties --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                      children, max_size=4),
    max_leaves=12)
TYPES = ["chat.created", "chat.updated", "conversation.audio.delta", "conversation.chat.failed",
         "conversation.chat.requires_action", "conversation.message.delta", "error",
         "conversation.message.completed", "conversation.chat.completed", "response.audio.delta",
         "session.created", "response.done", "error", "x"]
messages = st.builds(
    lambda t, data, extra: json.dumps(dict(extra, event_type=t, type=t, data=data)).encode(),
    st.sampled_from(TYPES), json_values, st.dictionaries(st.sampled_from(
        ["id", "delta", "response_id", "error", "detail"]), json_values, max_size=3))


def _mutate(payload, pos, byte):
    if not payload:
        return payload
    b = bytearray(payload)
    b[pos % len(b)] = byte
    return bytes(b)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages, st.integers(0, 10**6), st.integers(0, 255), st.booleans(), st.booleans())
def test_feed_raises_only_protocol_error(payload, pos, byte, mutate, use_qwen):
    s = qwen() if use_qwen else coze()
    if mutate:
        payload = _mutate(payload, pos, byte)
    outcome(s, payload)  # anything but ProtocolError propagates and fails the test


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=*-_ ",
               max_size=200), st.booleans())
def test_any_delta_content_decodes_or_raises_protocol_error(content, use_qwen):
    if use_qwen:
        s = qwen()
        payload = json.dumps({"type": "response.audio.delta", "event_id": "e",
                              "response_id": "r", "delta": content}).encode()
    else:
        s = coze()
        payload = delta(content)
    got = outcome(s, payload)
    assert got in (ERR, base.EV_AUDIO)
    try:
        valid = base64.b64decode(content, validate=True) is not None and len(content) % 4 == 0
    except ValueError:
        valid = False
    if valid and "=" not in content.rstrip("="):
        assert got == base.EV_AUDIO
