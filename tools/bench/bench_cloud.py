"""CPython-side figures of the protocol layer (make bench): uplink wire overhead computed from the
frames the sessions actually build, and the fast path's decode speed on the host (report only:
the device figure comes from the viper kernel, which the host cannot run)."""

import os
import time

from cloud.coze_chat import CozeChat
from cloud.frame import HEADER_ROOM
from cloud.qwen_omni import QwenOmni

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures",
                       "coze-go", "websocket_chat_success.txt")


def _wire(session, frame_bytes):
    buf, payload = session.audio_frame(bytes(frame_bytes), frame_bytes)
    assert bytes(buf[HEADER_ROOM:HEADER_ROOM + 2]) == b'{"'
    extended = 0 if payload < 126 else (2 if payload < 65536 else 8)
    return 2 + extended + 4 + payload


def _row(key, value, unit, target, what):
    return {"key": key, "value": value, "unit": unit, "target": target, "tier": "cpython",
            "what": what}


def run():
    rows = []
    for key, session, target in (("coze", CozeChat({"bot_id": "1"}), "<= 1.10"),
                                 ("qwen", QwenOmni({}), None)):
        ratio = _wire(session, 640) * 50 / (640 * 50 * 4 / 3)
        rows.append(_row("host_wire_overhead_ratio_" + key, round(ratio, 4), "x", target,
                         "%s append of 20 ms 16 kHz PCM, as built, incl. WS header+mask" % key))
    if os.path.isfile(FIXTURE):
        with open(FIXTURE, "rb") as f:
            lines = [x for x in f.read().split(b"\n") if b"conversation.audio.delta" in x]
        session = CozeChat({"bot_id": "1"})
        dst = bytearray(4096)
        total = 0
        start = time.perf_counter()
        for line in lines:
            event = session.feed(memoryview(line))
            while True:
                n = event.read_audio(dst)
                if not n:
                    break
                total += n
        seconds = time.perf_counter() - start
        rows.append(_row("host_delta_decode_mb_per_s", round(total / seconds / 1e6, 2), "MB/s",
                         None, "CPython: feed + read_audio of the chat capture's 56 deltas"))
    return rows
