"""Write tests/data/bench/default_session.txt: what the fake cloud sends a device that runs the
default config (16 kHz PCM out, 50 ms frames, limit_config pacing) through one push-to-talk turn.

The format is the coze-go captures' ("send" / "receive" lines, each followed by one JSON message),
so tests/mp/bench_pipeline.py replays it with the same reader as the real capture. The chat.update
is the one the device builds from config.DEFAULTS (firmware/app/cloud_session.py); the uplink is
one second of tests/data/mic/question.wav in 20 ms appends (not written to the file: the replay
needs only what the server sends). The fake cloud runs in burst mode so this takes a moment; the
replay applies the pacing the config asks for (limit_config) itself.
usage: .venv/bin/python tools/bench/make_default_session.py [OUT]
"""

import asyncio
import base64
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _sub in ("lib", "firmware", ""):
    if os.path.join(ROOT, _sub) not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, _sub))

from tools import hostcompat  # noqa: E402,F401 - MicroPython shims before device modules

OUT = os.path.join(ROOT, "tests", "data", "bench", "default_session.txt")
MIC = os.path.join(ROOT, "tests", "data", "mic", "question.wav")
TOKEN = "bench-token"
BOT_ID = "7400000000000000000"
BOARD = "esp32s3_inmp441"


def default_config():
    """config.DEFAULTS with only the keys that have no default filled in."""
    import config

    return config.validate({"wifi_ssid": "bench", "token": TOKEN, "bot_id": BOT_ID,
                            "board": BOARD})


async def _recv(ws, lines, until):
    while True:
        raw = await asyncio.wait_for(ws.recv(), 10)
        lines.append(("receive", raw))
        if json.loads(raw).get("event_type") == until:
            return


async def generate():
    """The session's lines as (direction, raw JSON text) pairs."""
    from app.cloud_session import make_session
    from websockets.asyncio.client import connect

    from tools.cloud.audio import read_wav, resample
    from tools.cloud.fake_cloud import FakeCloud

    cfg = default_config()
    session = make_session(cfg, cfg["mode"])
    samples, rate = read_wav(MIC)
    pcm = resample(samples, rate, cfg["in_rate"]).tobytes()
    frame = cfg["in_rate"] // 50 * 2
    cloud = await FakeCloud(token=TOKEN, burst=True).start()
    lines = []
    try:
        url = cloud.url("/v1/chat", bot_id=BOT_ID)
        async with connect(url, additional_headers={"Authorization": "Bearer " + TOKEN},
                           compression=None, max_size=2**20) as ws:
            await _recv(ws, lines, "chat.created")
            update = session.session_update()
            lines.append(("send", update))
            await ws.send(update)
            await _recv(ws, lines, "chat.updated")
            for off in range(0, min(len(pcm), 50 * frame), frame):
                await ws.send(json.dumps({
                    "id": "a%d" % off, "event_type": "input_audio_buffer.append",
                    "data": {"delta": base64.b64encode(pcm[off:off + frame]).decode()}}))
            complete = session.end_turn()[0]
            lines.append(("send", complete))
            await ws.send(complete)
            await _recv(ws, lines, "conversation.chat.completed")
    finally:
        await cloud.stop()
    return lines


def write(lines, path=OUT):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for direction, raw in lines:
            f.write(direction + "\n" + raw + "\n")


def main(argv):
    path = argv[0] if argv else OUT
    lines = asyncio.run(generate())
    write(lines, path)
    deltas = sum(1 for d, raw in lines if d == "receive" and "conversation.audio.delta" in raw)
    print("wrote %s: %d messages, %d audio deltas" % (os.path.relpath(path), len(lines), deltas))


if __name__ == "__main__":
    main(sys.argv[1:])
