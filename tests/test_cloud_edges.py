# Edge cases of the protocol layer: bad settings, malformed and incomplete messages, unknown
# events, Coze error codes, device-side tools, cancel/stale audio, frame reuse, Qwen-Omni.
import base64
import json
import warnings

import pytest
from cloud import base
from cloud.coze_chat import CozeChat
from cloud.coze_speech import CozeSpeech
from cloud.coze_transcriptions import CozeTranscriptions
from cloud.errors import ACT_CANCEL, ACT_FATAL, ACT_RETRY, ConfigError, ProtocolError, Unsupported
from cloud.frame import HEADER_ROOM
from cloud.qwen_omni import QwenOmni
from cloud.tools import Tools
from cozepy.websockets.chat import ConversationChatSubmitToolOutputsEvent, _chat_event_factory

BOT = {"bot_id": "123"}


def chat(**extra):
    lines = []
    session = CozeChat(dict(BOT, **extra), log=lines.append)
    session.lines = lines
    return session


def msg(event_type, data=None, event_id="ev-1"):
    out = {"id": event_id, "event_type": event_type, "detail": {"logid": "log-1"}}
    if data is not None:
        out["data"] = data
    return json.dumps(out).encode()


@pytest.mark.parametrize("settings, key", [
    ({"codec_in": "g711a", "in_rate": 16000}, "in_rate"),
    ({"codec_out": "g711u", "out_rate": 24000}, "out_rate"),
    ({"speech_rate": 101}, "speech_rate"),
    ({"speech_rate": -51}, "speech_rate"),
    ({"silence_duration_ms": 199}, "silence_duration_ms"),
    ({"silence_duration_ms": 2001}, "silence_duration_ms"),
    ({"codec_in": "mp3"}, "codec_in"),
    ({"codec_out": "aac"}, "codec_out"),
    ({"vad_type": "client_vad"}, "vad_type"),
    ({"mode": "walkie"}, "mode"),
    ({"in_rate": 11025}, "in_rate"),
    ({"codec_out": "opus", "frame_size_ms": 30}, "frame_size_ms"),
    ({"codec_out": "opus", "out_rate": 16000}, "out_rate"),
    ({"speech_rate": "fast"}, "speech_rate"),
    ({"auto_save_history": "yes"}, "auto_save_history"),
    ({"meta_data": {"k": 1}}, "meta_data"),
    ({"event_subscriptions": "error"}, "event_subscriptions"),
    ({"asr_language": "de"}, "asr_language"),
    ({"silence_duraton_ms": 500}, "silence_duraton_ms"),
    ({"bot_id": "abc"}, "bot_id"),
    ({"bot_id": None}, "bot_id"),
    ({"device_id": "12a"}, "device_id"),
    ({"base_url": "https://ws.coze.cn"}, "base_url"),
    ({"limit_max_frames": -1}, "limit_max_frames"),
])
def test_bad_chat_settings_name_the_key(settings, key):
    with pytest.raises(ConfigError) as err:
        CozeChat(dict(BOT, **settings))
    assert err.value.key == key
    assert ("'%s'" % key) in str(err.value)


@pytest.mark.parametrize("cls, settings, key", [
    (QwenOmni, {"in_rate": 24000}, "in_rate"),
    (QwenOmni, {"codec_in": "g711a"}, "codec_in"),
    (QwenOmni, {"silence_duration_ms": 6001, "mode": "free"}, "silence_duration_ms"),
    (QwenOmni, {"vad_threshold": 1.5}, "vad_threshold"),
    (QwenOmni, {"modalities": ["audio"]}, "modalities"),
    (CozeSpeech, {"codec_in": "pcm"}, "codec_in"),
    (CozeTranscriptions, {"voice_id": "x"}, "voice_id"),
])
def test_bad_settings_of_the_other_clouds(cls, settings, key):
    with pytest.raises(ConfigError) as err:
        cls(settings)
    assert err.value.key == key


def test_empty_conversation_id_is_omitted_and_app_keys_pass():
    data = json.loads(chat(conversation_id="", user_id="u", token="pat_x").session_update())
    assert data["data"]["chat_config"] == {"user_id": "u"}


def test_token_never_appears_in_errors():
    session = chat()
    for token in ("pat_abc def", "sat_\nx", ""):
        with pytest.raises(ConfigError) as err:
            session.headers(token)
        assert (token or "\0") not in str(err.value)


@pytest.mark.parametrize("payload", [
    b'{"id":"ev-9","event_type":"chat.created"', b'[1,2]', b'', b'{"a":1} x', b'{"id":"ev-9",',
    b'{"event_type":"chat.created","id":"ev-9",}', b'{"event_type": 5, "id": "ev-9"}',
    b'{"id":"ev-9","event_type":"conversation.chat.created","data":{"id":"1"}',
])
def test_malformed_messages_raise_and_the_session_survives(payload):
    session = chat()
    with pytest.raises(ProtocolError) as err:
        session.feed(payload)
    if b'"ev-9"' in payload and payload.endswith(b"}"):
        assert "ev-9" in str(err.value)
    assert session.feed(msg("chat.created")).kind == base.EV_CREATED


@pytest.mark.parametrize("event_type, data, field", [
    ("conversation.chat.created", {"id": "1"}, "conversation_id"),
    ("conversation.message.delta", {"role": "assistant"}, "data.content"),
    ("conversation.audio.sentence_start", {}, "data.text"),
    ("conversation.audio_transcript.update", {"text": "?"}, "data.content"),
    ("conversation.chat.requires_action", {"id": "1", "conversation_id": "2"},
     "required_action"),
    ("conversation.audio.delta", {"role": "assistant"}, "no audio field"),
])
def test_missing_fields_name_the_event(event_type, data, field):
    session = chat()
    with pytest.raises(ProtocolError) as err:
        session.feed(msg(event_type, data, "ev-42"))
    assert "ev-42" in str(err.value) and field in str(err.value)
    assert err.value.event_id == "ev-42" and err.value.event_type == event_type


def test_bad_base64_in_a_delta_is_reported_with_the_event_id():
    session = chat()
    with pytest.raises(ProtocolError, match="ev-7.*multiple of 4"):
        session.feed(msg("conversation.audio.delta", {"content": "AAAAA"}, "ev-7"))
    event = session.feed(msg("conversation.audio.delta", {"content": "AAAA" * 10 + "A*AA"},
                             "ev-8"))
    dst = bytearray(12)
    assert event.read_audio(dst) == 12  # the first 16 characters are fine
    with pytest.raises(ProtocolError, match="ev-8.*bad byte 0x2a"):
        while event.read_audio(dst):
            pass
    assert event.read_audio(dst) == 0  # the rest of the bad delta is dropped
    padded_early = session.feed(msg("conversation.audio.delta", {"content": "AA==AAAA"}, "e9"))
    with pytest.raises(ProtocolError, match="padding"):
        padded_early.read_audio(bytearray(3))


def test_unknown_events_are_logged_once_and_ignored():
    session = chat()
    for _ in range(3):
        event = session.feed(msg("conversation.brand_new", {"x": 1}))
        assert event.kind == base.EV_IGNORED and event.type == "conversation.brand_new"
    assert len(session.lines) == 1 and "conversation.brand_new" in session.lines[0]


@pytest.mark.parametrize("code, action", [
    (4100, ACT_FATAL), (4101, ACT_FATAL), (4016, ACT_CANCEL), (5000, ACT_RETRY)])
def test_error_events(code, action):
    session = chat()
    event = session.feed(msg("error", {"code": code, "msg": "server says no"}, "ev-e"))
    assert (event.kind, event.code, event.msg, event.action) == (
        base.EV_ERROR, code, "server says no", action)
    assert event.hint and event.logid == "log-1"


def requires_action():
    return {"id": "7526821559890198568", "conversation_id": "7526821722323025972",
            "status": "requires_action", "required_action": {
                "type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "set_volume", "arguments": '{"level": 40}'}},
                    {"id": "call_2", "type": "function",
                     "function": {"name": "launch_rocket", "arguments": "{}"}}]}}}


def test_tool_call_round_trip():
    session = chat()
    line = msg("conversation.chat.requires_action", requires_action())
    event = session.feed(line)
    theirs = _chat_event_factory.create_event("v1/chat", json.loads(line))
    calls = theirs.data.required_action.submit_tool_outputs.tool_calls
    assert [(c.id, c.name, c.arguments) for c in event.tool_calls] == [
        (c.id, c.function.name, c.function.arguments) for c in calls]
    volume = []
    tools = Tools(log=lambda line: None)
    tools.register("set_volume", lambda args: volume.append(args["level"]), "Set the volume")
    outputs = tools.dispatch(event.tool_calls)
    assert volume == [40]
    assert outputs == [("call_1", "ok"), ("call_2", "error: unknown tool launch_rocket")]
    sent = json.loads(session.submit_tool_outputs(event.chat_id, outputs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = ConversationChatSubmitToolOutputsEvent.model_validate(sent)
    assert model.model_dump(exclude_none=True) == sent
    assert sent["data"]["chat_id"] == "7526821559890198568"


def test_tools_report_failures_instead_of_raising():
    tools = Tools(log=lambda line: None)
    tools.register("boom", lambda args: 1 / 0)
    tools.register("echo", lambda args: args)
    assert tools.run("boom", "{}").startswith("error: boom failed")
    assert tools.run("echo", "not json").startswith("error:")
    assert json.loads(tools.run("echo", '{"a": [1]}')) == {"a": [1]}
    assert tools.describe() == [("boom", ""), ("echo", "")]


def test_barge_in_marks_late_audio_stale():
    session = chat()
    session.feed(msg("conversation.chat.created", {"id": "A", "conversation_id": "C"}))
    assert session.reply.running()
    (cancel,) = session.begin_turn()  # push-to-talk over a reply: cancel it first
    assert json.loads(cancel)["event_type"] == "conversation.chat.cancel"
    assert session.begin_turn() == ()  # one cancel per reply, however often the user presses
    late = session.feed(msg("conversation.audio.delta", {"content": "AAAA", "chat_id": "A"}))
    assert late.stale
    canceled = session.feed(msg("conversation.chat.canceled", {"code": 2, "msg": "cancel"}))
    assert canceled.kind == base.EV_CANCELED and not session.reply.running()
    session.feed(msg("conversation.chat.created", {"id": "B", "conversation_id": "C"}))
    fresh = session.feed(msg("conversation.audio.delta", {"content": "AAAA", "chat_id": "B"}))
    assert not fresh.stale
    assert chat(mode="free").begin_turn() == () and chat(mode="free").end_turn() == ()


def test_an_explicit_cancel_ends_the_reply_for_begin_turn():
    # The app's state machine cancels on its own; the next begin_turn() must not cancel again.
    for session, created in (
        (chat(), msg("conversation.chat.created", {"id": "A", "conversation_id": "C"})),
        (QwenOmni({"mode": "ptt"}), qwen_msg("response.created", response={"id": "r1"})),
    ):
        session.feed(created)
        assert session.reply.running()
        assert len(session.cancel()) == 1
        assert not session.reply.running() and session.begin_turn() == ()


def test_frames_are_rebuilt_whole_after_masking():
    session = chat()
    pcm = bytes(range(256)) * 2 + bytes(128)
    seen = set()
    for _ in range(3):
        buf, n = session.audio_frame(memoryview(pcm), 640)
        sent = json.loads(bytes(buf[HEADER_ROOM:HEADER_ROOM + n]))
        assert base64.b64decode(sent["data"]["delta"]) == pcm
        seen.add(sent["id"])
        for i in range(HEADER_ROOM, HEADER_ROOM + n):  # what send_inplace's masking does
            buf[i] ^= 0x5A
    assert len(seen) == 3
    session.audio_frame(bytes(644), 644)  # a resampled frame may run 2 samples long
    with pytest.raises(ValueError, match="exceeds"):
        session.audio_frame(bytes(646), 646)
    assert session.max_frame_bytes() == 644
    assert chat(codec_in="g711u").max_frame_bytes() == 162


def test_text_limits_and_unsupported_operations():
    with pytest.raises(ValueError, match="1..1023"):
        chat().generate_audio("字" * 342)
    with pytest.raises(ValueError):
        CozeSpeech({}).send_text("")
    with pytest.raises(Unsupported):
        CozeSpeech({}).audio_frame(bytes(2), 2)
    with pytest.raises(Unsupported):
        QwenOmni({}).submit_tool_outputs("c", [])
    with pytest.raises(Unsupported):
        CozeTranscriptions({}).send_text("x")


def qwen_msg(type_, **fields):
    return json.dumps(dict({"event_id": "srv-1", "type": type_}, **fields)).encode()


def test_qwen_push_to_talk_and_free_talk_config():
    ptt = QwenOmni({"voice": "Chelsie", "instructions": "be brief"})
    update = json.loads(ptt.session_update())
    assert update["type"] == "session.update" and update["event_id"].startswith("ev_")
    assert update["session"]["turn_detection"] is None
    assert [json.loads(m)["type"] for m in ptt.end_turn()] == [
        "input_audio_buffer.commit", "response.create"]
    # After commit + response.create a response is on its way: a cancel is due.
    assert json.loads(ptt.cancel()[0])["type"] == "response.cancel"
    free = QwenOmni({"mode": "free", "silence_duration_ms": 800, "vad_threshold": 0.5})
    assert json.loads(free.session_update())["session"]["turn_detection"] == {
        "type": "server_vad", "threshold": 0.5, "silence_duration_ms": 800}
    assert free.end_turn() == ()
    assert ptt.url() == ("wss://dashscope.aliyuncs.com/api-ws/v1/realtime"
                         "?model=qwen3-omni-flash-realtime")
    buf, n = ptt.audio_frame(bytes(640), 640)
    frame = json.loads(bytes(buf[HEADER_ROOM:HEADER_ROOM + n]))
    assert frame["type"] == "input_audio_buffer.append"
    assert base64.b64decode(frame["audio"]) == bytes(640)


def test_qwen_downlink():
    session = QwenOmni({}, log=lambda line: None)
    assert session.feed(qwen_msg("session.created", session={})).kind == base.EV_CREATED
    assert session.feed(qwen_msg("response.created", response={"id": "r1"})).kind == (
        base.EV_TURN_STARTED)
    audio = session.feed(qwen_msg("response.audio.delta", response_id="r1", item_id="i",
                                  output_index=0, content_index=0, delta="AAECAw=="))
    dst = bytearray(8)
    assert audio.kind == base.EV_AUDIO and audio.read_audio(dst) == 4 and dst[:4] == b"\0\1\2\3"
    assert audio.id == "srv-1" and audio.stream_id == "r1"
    text = session.feed(qwen_msg("response.audio_transcript.delta", response_id="r1",
                                 delta="你好"))
    assert (text.kind, text.text) == (base.EV_TEXT, "你好")
    heard = session.feed(qwen_msg("conversation.item.input_audio_transcription.completed",
                                  transcript="hello"))
    assert (heard.kind, heard.text) == (base.EV_TRANSCRIPT, "hello")
    assert session.feed(qwen_msg("response.content_part.added")).kind == base.EV_IGNORED
    done = session.feed(qwen_msg("response.done", response={"id": "r1", "status": "completed"}))
    assert done.kind == base.EV_TURN_DONE and not session.reply.running()
    error = session.feed(qwen_msg("error", error={"type": "authentication_error",
                                                  "code": "InvalidApiKey", "message": "bad"}))
    assert (error.kind, error.code, error.action) == (base.EV_ERROR, "InvalidApiKey", ACT_FATAL)
    with pytest.raises(ProtocolError, match="srv-1"):
        session.feed(qwen_msg("response.created", response={}))
