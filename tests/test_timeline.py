"""The timeline PNG renders from a session, a state list and a speaker WAV."""

import asyncio
import os
import struct
import subprocess
import sys
import zlib

import numpy as np

from tools.cloud import audio
from tools.cloud.client import ScriptClient
from tools.cloud.fake_cloud import DEFAULT_REPLY, FakeCloud
from tools.session import write_session
from tools.timeline import _envelope, draw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _png_size(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    (crc,) = struct.unpack(">I", data[16 + length:20 + length])
    assert zlib.crc32(data[12:16 + length]) == crc
    assert data.endswith(b"IEND\xaeB`\x82")
    return width, height, len(data)


def _session():
    async def go():
        async with FakeCloud(token="t", think_s=0.05) as cloud:
            client = await ScriptClient.connect(cloud.url(bot_id="1"), "t")
            await client.until("chat.created")
            await client.send("chat.update", {"output_audio": {"pcm_config": {
                "frame_size_ms": 100}}})
            await client.until("chat.updated")
            for _ in range(25):
                await client.append(b"\x00\x10" * 480)
                await asyncio.sleep(0.01)
            await client.send("input_audio_buffer.complete")
            await client.until("conversation.chat.completed")
            await client.close()
            await asyncio.sleep(0.05)
            return cloud.connections[0].session

    session = asyncio.run(go())
    session.add(0.2, "button", "press")
    session.records.sort(key=lambda r: r["t"])
    return session


def test_timeline_renders_a_png(tmp_path):
    session = _session()
    path = str(tmp_path / "session.jsonl")
    write_session(session, path)
    samples, rate = audio.read_wav(DEFAULT_REPLY)
    speaker = np.concatenate((np.zeros(rate, np.int16), samples))
    wav = str(tmp_path / "speaker.wav")
    audio.write_wav(wav, speaker, rate)
    states = [(0.0, "CONNECTING"), (0.1, "IDLE"), (0.2, "LISTENING"), (0.6, "THINKING"),
              (1.0, "SPEAKING"), (4.6, "IDLE")]
    out = str(tmp_path / "timeline.png")
    span = draw(out, path, states, wav, session_offset=0.0)
    width, height, size = _png_size(out)
    assert (width, height) == (1400, 700) and size > 20_000
    assert span >= len(speaker) / rate


def test_timeline_command_line(tmp_path):
    import json

    states = tmp_path / "states.json"
    states.write_text(json.dumps([{"t": 0, "state": "IDLE"}, {"t": 1.5, "state": "SPEAKING"}]))
    out = tmp_path / "t.png"
    proc = subprocess.run([sys.executable, "-m", "tools.timeline", "--out", str(out),
                           "--states", str(states), "--speaker", DEFAULT_REPLY],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert _png_size(str(out))[2] > 10_000


def test_envelope_keeps_the_peaks():
    x = np.zeros(100_000, np.int16)
    x[54_321] = 32767
    x[77_777] = -32768
    t, lo, hi = _envelope(x, 16000, width=1000)
    assert len(t) == 1000 and hi.max() > 0.99 and lo.min() == -1.0
