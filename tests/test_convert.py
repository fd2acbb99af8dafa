"""Session format v1 reader/writer and the coze-go capture converter."""

import base64
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tools.cloud import audio
from tools.cloud.convert import convert, parse_capture
from tools.session import REDACTED, Session, SessionError, read_session, write_session

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _capture(shared_fixtures, name):
    with open(os.path.join(shared_fixtures, "coze-go", name), encoding="utf-8") as f:
        return f.read()


def test_chat_capture_converts_with_times_from_respond_at(shared_fixtures):
    s = convert(_capture(shared_fixtures, "websocket_chat_success.txt"))
    assert s.header["cloud"] == "coze.chat" and s.header["url_path"] == "/v1/chat"
    assert s.header["query"] == {"bot_id": "7496347519799787557"}
    first, second = s.records[0], s.records[1]
    assert first == {"t": 0.0, "down": first["down"]}
    assert first["down"]["event_type"] == "chat.created"
    assert second["up"]["event_type"] == "conversation.message.create" and second["t"] == 0.0
    times = [r["t"] for r in s.records]
    assert times == sorted(times)
    # chat.completed's respond_at is 1752474751457, chat.created's 1752474748918.
    assert s.records[-1]["t"] == pytest.approx(2.539)
    assert s.records[-1]["down"]["event_type"] == "conversation.chat.completed"
    assert len(s.records) == len(parse_capture(_capture(shared_fixtures,
                                                        "websocket_chat_success.txt")))


def test_converted_audio_is_exactly_the_capture_wav(shared_fixtures):
    s = convert(_capture(shared_fixtures, "websocket_chat_success.txt"))
    pcm = b"".join(base64.b64decode(m["data"]["content"]) for m in s.downs()
                   if m["event_type"] == "conversation.audio.delta")
    wav, rate = audio.read_wav(os.path.join(shared_fixtures, "coze-go",
                                            "websocket_chat_success.wav"))
    assert rate == 24000 and np.array_equal(np.frombuffer(pcm, "<i2"), wav)


@pytest.mark.parametrize("name,cloud", [
    ("websocket_speech_success.txt", "coze.speech"),
    ("websocket_transcriptions_success.txt", "coze.transcriptions"),
    ("websocket_chat_generate_audio_success.txt", "coze.chat"),
])
def test_other_captures_name_their_endpoint(shared_fixtures, name, cloud):
    s = convert(_capture(shared_fixtures, name))
    assert s.cloud == cloud
    assert s.event_types("down")[0].endswith(".created")


def test_command_line_writes_a_readable_session(shared_fixtures, tmp_path):
    out = tmp_path / "chat.jsonl"
    src = os.path.join(shared_fixtures, "coze-go", "websocket_chat_success.txt")
    proc = subprocess.run([sys.executable, "-m", "tools.cloud.convert", src, str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    s = read_session(str(out))
    assert s.header["format"] == "voice-session" and s.header["version"] == 1
    assert len(s.records) == 97


def test_malformed_capture_names_the_line():
    with pytest.raises(ValueError, match="line 3"):
        parse_capture('send\n{"event_type": "x"}\nbogus\n')
    with pytest.raises(ValueError, match="line 2: not JSON"):
        parse_capture("receive\n{oops\n")


def test_writer_redacts_tokens_everywhere_and_reader_round_trips(tmp_path):
    s = Session({"cloud": "coze.chat", "url_path": "/v1/chat",
                 "query": {"bot_id": "1", "token": "abc"},
                 "headers": {"Authorization": "Bearer pat_SECRET123"}})
    s.add(0.0, "down", {"event_type": "chat.created"})
    s.add(0.1, "up", {"event_type": "conversation.message.create",
                      "data": {"content": "my key is sk-abcdefgh12345 and pat_SECRET123"}})
    s.add(0.2, "button", "press")
    path = str(tmp_path / "s.jsonl")
    write_session(s, path, secrets=["hunter2-not-token-shaped"])
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for secret in ("pat_SECRET123", "sk-abcdefgh12345", '"abc"'):
        assert secret not in text
    back = read_session(path)
    assert back.header["query"] == {"bot_id": "1", "token": REDACTED}
    assert back.header["headers"]["Authorization"] == REDACTED
    assert [r.get("button") for r in back.records] == [None, None, "press"]


def test_reader_rejects_bad_files_and_ignores_unknown_kinds(tmp_path):
    with pytest.raises(SessionError, match="not a voice-session v1 header"):
        read_session(['{"format": "other", "version": 1}'])
    with pytest.raises(SessionError, match="time goes backwards"):
        read_session(['{"format": "voice-session", "version": 1}', '{"t": 1, "up": {}}',
                      '{"t": 0.5, "up": {}}'])
    with pytest.raises(SessionError, match=":2: not JSON"):
        read_session(['{"format": "voice-session", "version": 1}', "nope"])
    s = read_session([json.dumps({"format": "voice-session", "version": 1}),
                      '{"t": 0, "future_kind": 1}', '{"t": 0.1, "mic": "AAA=", "rate": 16000}'])
    assert len(s.records) == 1 and s.records[0]["rate"] == 16000
