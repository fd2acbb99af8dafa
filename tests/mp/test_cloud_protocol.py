# The protocol layer under real MicroPython: builders, the downlink parser, the audio fast path
# byte-exact against the capture's .wav, and the allocation bounds (0 bytes per uplink frame,
# <= 2048 bytes to parse and decode the capture's 14,400-byte delta).
import json

import b64
from cloud import base, jscan
from cloud.coze_chat import CozeChat
from cloud.frame import HEADER_ROOM
from cloud.qwen_omni import QwenOmni

import mptest
from audio import g711

KERNELS = ("viper", "portable")
CHAT = mptest.path("/shared/fixtures/coze-go/websocket_chat_success")
DELTA_BYTES = 14400
DELTA_BOUND = 2048


def _use(kernel):
    b64.use_kernel(kernel)
    jscan.use_kernel(kernel)


def _pcm(n):
    out = bytearray(n)
    for i in range(n):
        out[i] = (i * 37 + 11) & 0xFF
    return out


def _frame_payload(session, pcm, n):
    buf, size = session.audio_frame(memoryview(pcm), n)
    return json.loads(bytes(buf[HEADER_ROOM:HEADER_ROOM + size]))


def _decode_text(text):
    raw = text.encode()
    out = bytearray(len(raw))
    n = b64.decode_into(raw, 0, len(raw), out)
    return bytes(out[:n])


def test_builders_produce_valid_messages():
    session = CozeChat({"bot_id": "123", "mode": "free", "silence_duration_ms": 700})
    update = json.loads(session.session_update())
    assert update["event_type"] == "chat.update"
    assert update["data"]["turn_detection"] == {"type": "server_vad", "silence_duration_ms": 700}
    assert session.cancel() == ()  # no chat runs: nothing to cancel
    session.feed(b'{"id":"e","event_type":"conversation.chat.created",'
                 b'"data":{"id":"9","conversation_id":"8"}}')
    assert json.loads(session.cancel()[0])["event_type"] == "conversation.chat.cancel"
    tool = json.loads(session.submit_tool_outputs("9", [("c1", "ok")]))
    assert tool["data"] == {"chat_id": "9",
                            "tool_outputs": [{"tool_call_id": "c1", "output": "ok"}]}
    assert json.loads(session.generate_audio("你好"))["data"] == {"mode": "text", "text": "你好"}
    qwen = QwenOmni({})
    assert json.loads(qwen.session_update())["session"]["turn_detection"] is None
    pcm = _pcm(640)
    for kernel in KERNELS:
        _use(kernel)
        for s, key in ((session, "data"), (qwen, None)):
            sent = _frame_payload(s, pcm, 640)
            text = sent["data"]["delta"] if key else sent["audio"]
            assert _decode_text(text) == bytes(pcm), kernel
    _use("viper")


def test_uplink_frame_allocates_nothing():
    pcm = _pcm(640)  # 20 ms of 16 kHz 16-bit mono
    codes = bytearray(160)  # 20 ms of 8 kHz G.711, encoded by the app before the session
    pcm8k = memoryview(pcm)[:320]
    coze = CozeChat({"bot_id": "1"})
    coze711 = CozeChat({"bot_id": "1", "codec_in": "g711a"})
    qwen = QwenOmni({})
    for kernel in KERNELS:
        _use(kernel)
        for s in (coze, qwen):
            s.audio_frame(pcm, 640)  # warm up
            assert mptest.alloc(s.audio_frame, pcm, 640) == 0, kernel
        g711.encode_alaw(pcm8k, codes)
        coze711.audio_frame(codes, 160)
        assert mptest.alloc(coze711.audio_frame, codes, 160) == 0, kernel
    _use("viper")


def _find_big_delta():
    with open(CHAT + ".txt", "rb") as f:
        while True:
            line = f.readline()
            if not line:
                raise AssertionError("no 14,400-byte delta in the capture")
            if b"conversation.audio.delta" in line:
                start = line.find(b'"content":"') + 11
                end = line.find(b'"', start)
                if (end - start) // 4 * 3 == DELTA_BYTES:
                    return line.rstrip(b"\n")


def _parse_and_decode(session, mv, dst):
    event = session.feed(mv)
    total = 0
    while True:
        n = event.read_audio(dst)
        if not n:
            return total
        total += n


def test_delta_parse_and_decode_allocation_bound():
    mptest.need_shared()
    line = _find_big_delta()
    mv = memoryview(line)
    dst = bytearray(4096)
    for kernel in KERNELS:
        _use(kernel)
        session = CozeChat({"bot_id": "1"})
        assert _parse_and_decode(session, mv, dst) == DELTA_BYTES
        used = mptest.alloc(_parse_and_decode, session, mv, dst)
        print("delta %s: %d bytes allocated (bound %d)" % (kernel, used, DELTA_BOUND))
        assert used <= DELTA_BOUND, (kernel, used)
    naive = mptest.alloc(json.loads, line)
    print("json.loads of the same message: %d bytes" % naive)
    assert naive > used
    _use("viper")


def test_chat_capture_audio_is_byte_exact():
    mptest.need_shared()
    session = CozeChat({"bot_id": "1"}, log=lambda line: None)
    kinds = []
    dst = bytearray(4800)
    with open(CHAT + ".wav", "rb") as wav:
        head = wav.read(12)
        assert head[:4] == b"RIFF" and head[8:12] == b"WAVE"
        while True:  # walk to the data chunk
            tag = wav.read(4)
            size = int.from_bytes(wav.read(4), "little")
            if tag == b"data":
                break
            wav.read(size)
        expect = bytearray(4800)
        checked = 0
        with open(CHAT + ".txt", "rb") as f:
            while True:
                direction = f.readline()
                line = f.readline()
                if not line:
                    break
                if direction != b"receive\n":
                    continue
                event = session.feed(memoryview(line.rstrip(b"\n")))
                kinds.append(event.kind)
                if event.kind != base.EV_AUDIO:
                    continue
                while True:
                    n = event.read_audio(dst)
                    if not n:
                        break
                    assert wav.readinto(memoryview(expect)[:n]) == n
                    assert dst[:n] == expect[:n], "audio differs at byte %d" % checked
                    checked += n
        assert checked == size and not wav.read(1)
    assert kinds.count(base.EV_AUDIO) == 56
    assert kinds[0] == base.EV_CREATED and kinds[-1] == base.EV_TURN_DONE


def test_malformed_input_is_reported():
    from cloud.errors import ConfigError, ProtocolError

    session = CozeChat({"bot_id": "1"}, log=lambda line: None)
    for bad in (b'{"id":"e1","event_type":"chat.created"', b"[]", b'{"id":"e1",}'):
        try:
            session.feed(bad)
        except ProtocolError:
            pass
        else:
            raise AssertionError("accepted %r" % bad)
    event = session.feed(b'{"id":"e2","event_type":"conversation.audio.delta",'
                         b'"data":{"content":"AA*A"}}')
    try:
        event.read_audio(bytearray(3))
    except ProtocolError as exc:
        assert "e2" in str(exc)
    else:
        raise AssertionError("bad base64 accepted")
    err = session.feed(b'{"id":"e3","event_type":"error","data":{"code":4100,"msg":"x"}}')
    assert err.kind == base.EV_ERROR and err.action == "fatal"
    try:
        CozeChat({"bot_id": "1", "codec_in": "g711u", "in_rate": 16000})
    except ConfigError as exc:
        assert exc.key == "in_rate"
    else:
        raise AssertionError("G.711 at 16 kHz accepted")


def test_reply_lifecycle_under_micropython():
    # The reply owner as the device runs it: stale audio after the server's interruption and a
    # dataless canceled, one cancel per running reply, the conversation kept over a reconnect.
    def msg(event_type, data=None):
        out = {"id": "e", "event_type": event_type}
        if data is not None:
            out["data"] = data
        return json.dumps(out).encode()

    def audio(chat_id):
        return msg("conversation.audio.delta", {"content": "AAAA", "chat_id": chat_id})

    s = CozeChat({"bot_id": "1", "mode": "free"}, log=lambda line: None)
    s.feed(msg("conversation.chat.created", {"id": "A", "conversation_id": "C"}))
    assert not s.feed(audio("A")).stale
    s.feed(msg("input_audio_buffer.speech_started"))
    assert s.feed(audio("A")).stale
    s.feed(msg("conversation.chat.created", {"id": "B", "conversation_id": "C"}))
    assert len(s.cancel()) == 1 and s.cancel() == ()
    s.feed(msg("conversation.chat.created", {"id": "D", "conversation_id": "C"}))
    assert s.feed(msg("conversation.chat.canceled")).kind == base.EV_CANCELED
    assert s.feed(audio("D")).stale and s.cancel() == ()
    s.on_open()
    update = json.loads(s.session_update())["data"]
    assert update["chat_config"]["conversation_id"] == "C"
    assert update["turn_detection"]["type"] == "server_vad"
    s.set_mode("ptt")
    assert json.loads(s.session_update())["data"]["turn_detection"] == {
        "type": "client_interrupt"}
    q = QwenOmni({}, log=lambda line: None)
    q.feed(b'{"event_id":"s","type":"response.created","response":{"id":"r1"}}')
    q.feed(b'{"event_id":"s","type":"response.done","response":{"id":"r1",'
           b'"status":"completed"}}')
    assert q.cancel() == () and q.out_rate == 24000
