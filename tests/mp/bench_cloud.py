# Benchmarks of the protocol layer under MicroPython (make bench): heap allocated by the audio
# paths, and the uplink's bytes on the wire per second of audio. (The headline rows of issue 8,
# uplink_frame_alloc_bytes etc., measure the whole app path in bench_pipeline.py; these are the
# session layer's share, hence the cloud_ prefix.)
import json

from cloud.coze_chat import CozeChat
from cloud.qwen_omni import QwenOmni

import mptest

CHAT = mptest.path("/shared/fixtures/coze-go/websocket_chat_success.txt")


def _wire_per_frame(payload):
    # WebSocket client frame: 2 bytes, +2 (or +8) for the length, +4 for the mask key.
    extended = 0 if payload < 126 else (2 if payload < 65536 else 8)
    return 2 + extended + 4 + payload


def _ratio(session, frame_bytes, frames_per_s):
    wire = _wire_per_frame(session._frame.payload_len(frame_bytes)) * frames_per_s
    return wire / (frame_bytes * frames_per_s * 4 / 3)


def _big_delta():
    with open(CHAT, "rb") as f:
        while True:
            line = f.readline()
            if not line:
                return None
            start = line.find(b'"content":"') + 11
            if b"conversation.audio.delta" in line and line.find(b'"', start) - start == 19200:
                return line.rstrip(b"\n")


def _parse_and_decode(session, mv, dst):
    event = session.feed(mv)
    while event.read_audio(dst):
        pass


def test_bench_uplink():
    coze = CozeChat({"bot_id": "1"})
    coze711 = CozeChat({"bot_id": "1", "codec_in": "g711a"})
    qwen = QwenOmni({})
    pcm = bytearray(640)
    coze.audio_frame(pcm, 640)
    mptest.bench("cloud_append_alloc_bytes", mptest.alloc(coze.audio_frame, pcm, 640), "B",
                 "== 0", what="Coze append message for 20 ms of 16 kHz PCM (640 B)")
    coze711.audio_frame(pcm, 160)
    mptest.bench("cloud_append_alloc_bytes_g711", mptest.alloc(coze711.audio_frame, pcm, 160),
                 "B", "== 0", what="Coze append message for 20 ms of 8 kHz G.711 (160 B)")
    mptest.bench("cloud_wire_overhead_ratio", round(_ratio(coze, 640, 50), 4), "x", "<= 1.10",
                 what="Coze uplink wire bytes/s (WS header+mask, JSON, 4-char id) / (PCM x 4/3)")
    mptest.bench("wire_overhead_ratio_g711", round(_ratio(coze711, 160, 50), 4), "x",
                 what="the same for 20 ms G.711 frames (report)")
    mptest.bench("wire_overhead_ratio_qwen", round(_ratio(qwen, 640, 50), 4), "x",
                 what="Qwen-Omni append, 20 ms of 16 kHz PCM (report)")


def test_bench_downlink():
    mptest.need_shared()
    line = _big_delta()
    session = CozeChat({"bot_id": "1"})
    dst = bytearray(4096)
    mv = memoryview(line)
    _parse_and_decode(session, mv, dst)
    mptest.bench("cloud_delta_alloc_bytes", mptest.alloc(_parse_and_decode, session, mv, dst),
                 "B", "<= 2048",
                 what="feed + read_audio of the capture's 14,400-byte delta into a 4 KB buffer")
    loads = mptest.alloc(json.loads, line)
    mptest.bench("cloud_delta_alloc_bytes_naive", loads + 14400, "B",
                 what="json.loads (%d B measured) + the 14,400-byte a2b_base64 result" % loads)
