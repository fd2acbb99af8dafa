"""The streaming downlink end to end: the default config plays every answer intact, sample for
sample, whatever size the server's messages are, under both runtimes.

The fake cloud sends audio deltas of 20 KB, 64 KB and 1 MB (of base64), whole or split into
small fragments with a ping between every two (the recorder frames them anew for the app); long
answer texts (8 KB, 64 KB) before the audio; and 10 s of 24 kHz audio as fast as loopback
allows (no pacing). The device holds none of these messages whole (lib/websock recv_part,
lib/cloud/jscan.py, app/audio_sink.py): a message over its old 12 KB receive buffer used to
close the link with 1009 and lose the answer. out_rate 24000 on the board's 24 kHz bus at
volume 70 (unity gain): the pins carry the cloud's samples unchanged, so the check is exact.
"""

import re

import numpy as np
import pytest

from tools.cloud.audio import read_wav, write_wav
from tools.sim.harness import ROOT, SimOptions, run_simulation
from tools.sim.record_sessions import ended_cleanly, mic_clip, question
from tools.sim.replay_check import played_whole

KB = 1024
# An error of any kind, or a warning about the link or the cloud's messages (a 1009 close, a
# malformed or dropped delta, a reconnect) would mean the streaming failed somewhere.
_TROUBLE = re.compile(r"^\s*[\d.]+ (E \w+|W (net|cloud)) ")


@pytest.fixture(params=["cpython", "micropython"])
def runtime(request):
    return request.param


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stream")
    samples, rate = read_wav(ROOT + "/tests/data/reply/reply.wav")

    def reply(name, seconds):
        # The reply WAV tiled to `seconds`, each copy a little quieter: no two stretches alike.
        n = int(seconds * rate)
        copies = -(-n // len(samples))
        out = np.concatenate([(samples * (1.0 - 0.03 * k)).astype(np.int16)
                              for k in range(copies)])[:n]
        path = str(tmp / name)
        write_wav(path, out, rate)
        return path

    return {"ptt": mic_clip(str(tmp / "ptt.wav"), 2.5, (0.5, question())),
            "short": reply("short.wav", 2.2), "long": reply("long.wav", 10.5),
            "huge": reply("huge.wav", 16.6)}


def delta_audio_bytes(b64_bytes):
    return b64_bytes * 3 // 4  # the PCM bytes that base64 text of that length carries


def play(runtime, clips, reply, timeout=120, **cloud):
    cloud.setdefault("think_s", 0.1)
    cloud["reply_wav"] = clips[reply]
    result = run_simulation(SimOptions(
        runtime=runtime, mic=clips["ptt"], presses=[(0.45, 1.8)], out_rate=24000, echo=None,
        virtual_time=runtime == "cpython", cloud_options=cloud), timeout=timeout)
    assert ended_cleanly(result) is None, result.log[-8:]
    samples, rate = result.speaker
    assert rate == 24000
    reason = played_whole(samples, result.cloud.reply_audio(24000), result)
    assert reason is None, reason
    trouble = [line for line in result.log if _TROUBLE.match(line)]
    assert not trouble, trouble
    return result


def sent_sizes(result, etype="conversation.audio.delta"):
    return [e["b64"] for e in result.cloud.connections[-1].sent(etype) if "b64" in e]


@pytest.mark.parametrize("b64_kb", [20, 64])
def test_big_audio_deltas_play_whole(runtime, clips, b64_kb):
    r = play(runtime, clips, "short", delta_bytes=delta_audio_bytes(b64_kb * KB))
    assert max(sent_sizes(r)) >= b64_kb * KB - 4  # the messages were that big


def test_a_one_megabyte_delta_plays_whole(runtime, clips):
    r = play(runtime, clips, "huge", timeout=180, delta_bytes=delta_audio_bytes(KB * KB))
    assert max(sent_sizes(r)) >= KB * KB - 4


@pytest.mark.parametrize("b64_kb", [20, 64])
def test_fragments_with_pings_between_play_whole(runtime, clips, b64_kb):
    # Every message, config and events included, in fragments with a ping between every two.
    # On CPython 1-byte ones: each multi-byte character and every base64 quad is split. The
    # MicroPython device spends ~2.5 ms a frame on this host (800 1-byte frames of the first
    # two events took it 2 s, 4 s with pings), above its WebSocket layer (lib/websock alone
    # takes 15-40 us a frame; the rest is not located yet). 1-byte frames of a 20 KB delta
    # would take it minutes: it gets 997-byte ones (odd, so no boundary lines up with a base64
    # quad).
    size = 1 if runtime == "cpython" else 997
    r = play(runtime, clips, "short", timeout=240, delta_bytes=delta_audio_bytes(b64_kb * KB),
             fragment_bytes=size, ping_between=True)
    assert r.frames_to_device >= b64_kb * KB // size  # the app got them so (recorder: anew)


# CPython (virtual time) only: on MicroPython this is 17 s of real-time audio more for paths
# the fragment tests above and the whole 1 MB delta already run there (the device's
# allocation per message does not depend on its size: tests/mp/test_cloud_stream.py).
@pytest.mark.parametrize("runtime", ["cpython"])
def test_a_one_megabyte_delta_in_fragments_with_pings_plays_whole(runtime, clips):
    # 1-byte fragments of a megabyte would be 2 million frames on the wire; 997-byte ones
    # (odd, so no boundary lines up with a base64 quad) with pings between them test the same
    # paths in a time a test can afford.
    r = play(runtime, clips, "huge", timeout=240, delta_bytes=delta_audio_bytes(KB * KB),
             fragment_bytes=997, ping_between=True)
    assert r.frames_to_device >= KB * KB // 997


@pytest.mark.parametrize("text_kb", [8, 64])
def test_long_answer_texts_are_shortened_for_the_log_and_the_answer_plays(runtime, clips,
                                                                          text_kb):
    r = play(runtime, clips, "short", big_text_bytes=text_kb * KB)
    sent = [e for e in r.cloud.connections[-1].sent("conversation.message.delta")]
    assert sent  # the long text went out (its size is in the session file)


def test_ten_seconds_of_audio_burst_as_fast_as_loopback_allows(runtime, clips):
    # No pacing: the whole answer is on the wire in a fraction of its length; the player's
    # ring stays its size and TCP holds the rest back.
    r = play(runtime, clips, "long", burst=True)
    deltas = r.cloud.connections[-1].sent("conversation.audio.delta")
    assert deltas[-1]["t"] - deltas[0]["t"] < 5.0  # burst: far faster than the 10.5 s it lasts
