# The reply lifecycle in the protocol layer (issue 16): what a session cancels, which audio is
# stale, what a server-side interruption and a dataless canceled mean, and what one session
# keeps across a reconfiguration and a reconnect. Sans-IO: feed() messages, read the results.
import json

import pytest
from cloud import base
from cloud.coze_chat import CozeChat
from cloud.errors import ACT_FIX, ACT_IGNORE, ACT_RETRY
from cloud.qwen_omni import QwenOmni


def coze(event_type, data=None, event_id="ev-1"):
    out = {"id": event_id, "event_type": event_type, "detail": {"logid": "02log"}}
    if data is not None:
        out["data"] = data
    return json.dumps(out).encode()


def qwen(type_, **fields):
    return json.dumps(dict({"event_id": "srv-1", "type": type_}, **fields)).encode()


def coze_audio(chat_id):
    return coze("conversation.audio.delta", {"content": "AAAA", "chat_id": chat_id,
                                             "role": "assistant", "type": "answer"})


def qwen_audio(response_id):
    return qwen("response.audio.delta", response_id=response_id, delta="AAAA")


def types(messages):
    return [json.loads(m)["type"] for m in messages]


def test_qwen_cancels_only_a_response_that_runs():
    s = QwenOmni({"mode": "ptt"}, log=lambda line: None)
    s.feed(qwen("response.created", response={"id": "r1"}))
    s.feed(qwen("response.done", response={"id": "r1", "status": "completed"}))
    # The answer still drains on the device: nothing runs on the cloud, nothing to cancel.
    assert s.cancel() == () and s.begin_turn() == ()
    s.feed(qwen("response.created", response={"id": "r2"}))
    assert types(s.cancel()) == ["response.cancel"]
    assert s.cancel() == ()  # one cancel per response


def test_qwen_an_error_about_an_unneeded_cancel_is_ignored():
    # The cancel crossed response.done on the wire: the server answers it with an error (the
    # seed), which must not end the user's turn.
    s = QwenOmni({"mode": "ptt"}, log=lambda line: None)
    s.feed(qwen("response.created", response={"id": "r1"}))
    assert types(s.cancel()) == ["response.cancel"]
    s.feed(qwen("response.done", response={"id": "r1", "status": "completed"}))
    error = s.feed(qwen("error", error={"type": "invalid_request_error", "code": "invalid_value",
                                        "message": "no response to cancel"}))
    assert error.action == ACT_IGNORE
    # Other request errors still count, and a refused parameter names it.
    other = s.feed(qwen("error", error={"type": "invalid_request_error", "code": "invalid_value",
                                        "message": "Invalid voice", "param": "session.voice"}))
    assert other.action == ACT_FIX and "session.voice" in other.hint
    server = s.feed(qwen("error", error={"type": "server_error", "code": "500", "message": "x"}))
    assert server.action == ACT_RETRY


def test_coze_cancels_only_a_chat_that_runs():
    s = CozeChat({"bot_id": "1"}, log=lambda line: None)
    assert s.cancel() == ()
    s.feed(coze("conversation.chat.created", {"id": "A", "conversation_id": "C"}))
    (cancel,) = s.cancel()
    assert json.loads(cancel)["event_type"] == "conversation.chat.cancel"
    s.feed(coze("conversation.chat.created", {"id": "B", "conversation_id": "C"}))
    s.feed(coze("conversation.chat.completed", {"id": "B", "conversation_id": "C"}))
    assert s.cancel() == () and s.begin_turn() == ()


def test_a_canceled_event_without_data_is_a_cancel():
    # @coze/api: ConversationChatCanceledEvent has no data.
    s = CozeChat({"bot_id": "1"}, log=lambda line: None)
    s.feed(coze("conversation.chat.created", {"id": "A", "conversation_id": "C"}))
    event = s.feed(coze("conversation.chat.canceled"))
    assert event.kind == base.EV_CANCELED and event.code is None
    assert s.feed(coze_audio("A")).stale


@pytest.mark.parametrize("interrupt", [
    coze("input_audio_buffer.speech_started"),
    coze("conversation.chat.canceled", {"code": 1, "msg": "user speech"}),
])
def test_a_server_side_interruption_makes_the_reply_stale(interrupt):
    s = CozeChat({"bot_id": "1", "mode": "free"}, log=lambda line: None)
    s.feed(coze("conversation.chat.created", {"id": "A", "conversation_id": "C"}))
    assert not s.feed(coze_audio("A")).stale
    s.feed(interrupt)
    assert s.feed(coze_audio("A")).stale  # late audio of the interrupted reply
    s.feed(coze("conversation.chat.created", {"id": "B", "conversation_id": "C"}))
    assert not s.feed(coze_audio("B")).stale


@pytest.mark.parametrize("interrupt", [
    qwen("input_audio_buffer.speech_started"),
    qwen("response.done", response={"id": "r1", "status": "cancelled"}),
])
def test_qwen_a_server_side_interruption_makes_the_reply_stale(interrupt):
    s = QwenOmni({"mode": "free"}, log=lambda line: None)
    s.feed(qwen("response.created", response={"id": "r1"}))
    assert not s.feed(qwen_audio("r1")).stale
    s.feed(interrupt)
    assert s.feed(qwen_audio("r1")).stale
    s.feed(qwen("response.created", response={"id": "r2"}))
    assert not s.feed(qwen_audio("r2")).stale


def test_push_to_talk_sends_client_interrupt_explicitly():
    # A field left out of chat.update is not reset (the seed): push-to-talk must say so.
    data = json.loads(CozeChat({"bot_id": "1"}).session_update())["data"]
    assert data["turn_detection"] == {"type": "client_interrupt"}


def test_a_mode_change_is_an_update_of_the_live_session():
    s = CozeChat({"bot_id": "1", "silence_duration_ms": 700}, log=lambda line: None)
    s.feed(coze("conversation.chat.created", {"id": "A", "conversation_id": "C"}))
    s.set_mode("free")
    data = json.loads(s.session_update())["data"]
    assert data["turn_detection"] == {"type": "server_vad", "silence_duration_ms": 700}
    assert data["chat_config"]["conversation_id"] == "C"
    assert s.cancel() != ()  # the reply that ran before the switch still runs
    assert s.feed(coze_audio("A")).stale  # and cancelling it made its audio stale
    s.set_mode("ptt")
    assert json.loads(s.session_update())["data"]["turn_detection"] == {
        "type": "client_interrupt"}


def test_a_reconnect_keeps_the_conversation_and_forgets_the_reply():
    s = CozeChat({"bot_id": "1"}, log=lambda line: None)
    s.feed(coze("conversation.chat.created", {"id": "A", "conversation_id": "C"}))
    s.on_open()  # the link dropped mid-reply; a new connection opens
    assert s.cancel() == ()
    data = json.loads(s.session_update())["data"]
    assert data["chat_config"]["conversation_id"] == "C"


def test_an_error_instead_of_a_reply_leaves_nothing_to_cancel():
    # The cloud answered the user's turn with an error (5000): no chat will come for it.
    s = CozeChat({"bot_id": "1"}, log=lambda line: None)
    s.end_turn()
    assert s.reply.running()  # asked: a reply is on its way, a press would cancel it
    s.feed(coze("error", {"code": 5000, "msg": "internal"}))
    assert s.cancel() == () and not s.reply.running()
    s.end_turn()
    s.feed(coze("error", {"code": 4104, "msg": "cannot cancel"}))  # harmless: still asked
    assert s.reply.running()


def test_the_scanner_slots_are_derived_and_checked():
    class Broken(CozeChat):
        AUDIO = {b"conversation.audio.delta": (b"contents", b"chat_id")}

    with pytest.raises(ValueError, match="contents"):
        Broken({"bot_id": "1"})
    assert base.audio_slots(CozeChat) == {b"conversation.audio.delta": (2, 4)}
    assert base.audio_slots(QwenOmni) == {b"response.audio.delta": (2, 3)}


def test_the_frame_id_offset_is_found_not_counted():
    from cloud.frame import AppendFrame

    for prefix in (b'{"id":"...","event_type":"x","data":{"delta":"',
                   b'{"id":"....","e":"....","data":{"delta":"'):
        with pytest.raises(ValueError, match="placeholder"):
            AppendFrame(prefix, b'"}}', 640)
