# Downlink: every event of the four coze-go captures parses, and our view of it (type, ids,
# audio bytes, text) equals what cozepy 0.20's own parser makes of it; the audio of
# websocket_chat_success decodes to exactly its .wav.
import json
import os
import struct
from types import SimpleNamespace

import pytest
from cloud import base, jscan
from cloud.coze_chat import CozeChat
from cloud.coze_speech import CozeSpeech
from cloud.coze_transcriptions import CozeTranscriptions
from cozepy.websockets.audio.speech import (
    WebsocketsAudioSpeechClient,
    _audio_speech_event_factory,
)
from cozepy.websockets.audio.transcriptions import (
    WebsocketsAudioTranscriptionsClient,
    _audio_transcriptions_event_factory,
)
from cozepy.websockets.chat import WebsocketsChatClient, _chat_event_factory
from cozepy.websockets.ws import WebsocketsBaseClient

CAPTURES = {
    "websocket_chat_success": (CozeChat, WebsocketsChatClient, "v1/chat"),
    "websocket_chat_generate_audio_success": (CozeChat, WebsocketsChatClient, "v1/chat"),
    "websocket_speech_success": (CozeSpeech, WebsocketsAudioSpeechClient, "v1/audio/speech"),
    "websocket_transcriptions_success": (CozeTranscriptions, WebsocketsAudioTranscriptionsClient,
                                         "v1/audio/transcriptions"),
}
FACTORIES = {
    WebsocketsChatClient: _chat_event_factory,
    WebsocketsAudioSpeechClient: _audio_speech_event_factory,
    WebsocketsAudioTranscriptionsClient: _audio_transcriptions_event_factory,
}
SETTINGS = {CozeChat: {"bot_id": "7496347519799787557"}, CozeSpeech: {},
            CozeTranscriptions: {}}


def received(shared_fixtures, name):
    with open(os.path.join(shared_fixtures, "coze-go", name + ".txt"), "rb") as f:
        lines = f.read().split(b"\n")
    return [lines[i + 1] for i in range(0, len(lines) - 1, 2) if lines[i] == b"receive"]


def wav_data(path):
    with open(path, "rb") as f:
        blob = f.read()
    assert blob[:4] == b"RIFF" and blob[8:12] == b"WAVE"
    pos = 12
    while pos < len(blob):
        tag, size = blob[pos:pos + 4], struct.unpack("<I", blob[pos + 4:pos + 8])[0]
        if tag == b"fmt ":
            fmt = struct.unpack("<HHIIHH", blob[pos + 8:pos + 24])
            assert fmt[1] == 1 and fmt[2] == 24000 and fmt[5] == 16  # mono, 24 kHz, 16-bit
        if tag == b"data":
            return blob[pos + 8:pos + 8 + size]
        pos += 8 + size
    raise AssertionError("no data chunk")


def read_all(event, chunk=4096):
    out = bytearray()
    dst = bytearray(chunk)
    while True:
        n = event.read_audio(dst)
        if not n:
            return bytes(out)
        out += dst[:n]


def cozepy_event(client_cls, path, line):
    # cozepy's own receive path: json.loads, then WebsocketsBaseClient._parse_event with the
    # client's event factory (what its receive loop does with every message).
    holder = SimpleNamespace(_event_factory=FACTORIES[client_cls], _path=path)
    return WebsocketsBaseClient._parse_event(holder, json.loads(line))


@pytest.mark.parametrize("name", sorted(CAPTURES))
@pytest.mark.parametrize("kernel", ["viper", "portable"])
def test_captures_parse_like_cozepy(shared_fixtures, name, kernel):
    import b64

    b64.use_kernel(kernel)
    jscan.use_kernel(kernel)
    session_cls, client_cls, path = CAPTURES[name]
    session = session_cls(SETTINGS[session_cls], log=lambda line: None)
    unknown_to_cozepy = set()
    audio = bytearray()
    for line in received(shared_fixtures, name):
        ours = session.feed(memoryview(line))
        theirs = cozepy_event(client_cls, path, line)
        msg = json.loads(line)
        assert ours.type == msg["event_type"]
        assert ours.id == msg["id"]
        assert ours.kind != base.EV_IGNORED
        if theirs is None:
            unknown_to_cozepy.add(ours.type)
            continue
        assert theirs.event_type.value == ours.type and theirs.id == ours.id
        data = getattr(theirs, "data", None)
        if ours.kind == base.EV_AUDIO:
            got = read_all(ours)
            assert len(got) == ours.audio_len
            want = data.get_audio() if ours.type == "conversation.audio.delta" else data.delta
            assert got == want
            audio += got
        elif ours.kind in (base.EV_TEXT, base.EV_MESSAGE_DONE):
            assert (ours.text, ours.role, ours.msg_type, ours.chat_id, ours.conversation_id) == (
                data.content, data.role.value, data.type.value, data.chat_id,
                data.conversation_id)
        elif ours.kind == base.EV_SENTENCE:
            assert ours.text == data.text
        elif ours.kind == base.EV_TRANSCRIPT:
            assert ours.text == data.content
        elif ours.type.startswith("conversation.chat."):
            assert (ours.chat_id, ours.conversation_id, ours.status) == (
                data.id, data.conversation_id, data.status.value)
    # cozepy 0.20's speech client has no model for the sentence subtitle the server sends.
    assert unknown_to_cozepy == (
        {"conversation.audio.sentence_start"} if session_cls is CozeSpeech else set())
    if name != "websocket_transcriptions_success":
        assert bytes(audio) == wav_data(os.path.join(shared_fixtures, "coze-go", name + ".wav"))
    b64.use_kernel("viper")
    jscan.use_kernel("viper")


def test_chat_capture_tracks_the_reply(shared_fixtures):
    session = CozeChat(SETTINGS[CozeChat])
    kinds = [session.feed(line).kind for line in received(shared_fixtures,
                                                          "websocket_chat_success")]
    assert kinds[0] == base.EV_CREATED and kinds[-1] == base.EV_TURN_DONE
    assert kinds.count(base.EV_AUDIO) == 56 and base.EV_AUDIO_DONE in kinds
    assert session.reply.conversation_id == "7526821722323025972"
    assert session.reply.id == "7526821559890198568" and not session.reply.running()


def test_fast_path_does_not_depend_on_key_order_or_spacing(shared_fixtures):
    # Re-serialise a real delta with reordered keys, spaces and an escaped slash: the fast path
    # (or its escaped-string fallback) yields the same audio and ids.
    line = next(x for x in received(shared_fixtures, "websocket_chat_success")
                if b"conversation.audio.delta" in x)
    msg = json.loads(line)
    want = read_all(CozeChat(SETTINGS[CozeChat]).feed(line))
    variants = [
        json.dumps({"data": dict(reversed(list(msg["data"].items()))), "detail": msg["detail"],
                    "id": msg["id"], "event_type": msg["event_type"]}, indent=2),
        json.dumps(msg).replace("/", "\\/"),
        " \n" + json.dumps(msg, separators=(" , ", " : ")) + "\n",
    ]
    for text in variants:
        event = CozeChat(SETTINGS[CozeChat]).feed(text.encode())
        assert event.kind == base.EV_AUDIO
        assert (event.id, event.chat_id) == (msg["id"], msg["data"]["chat_id"])
        assert read_all(event, 999) == want
