"""The app's streaming downlink (app/downlink.py + app/audio_sink.py) on exact bytes: what a
delta's audio becomes at the player when it is stale, corrupt, bigger than the player, or when
its message type comes after the audio field.

The socket is scripted (recv_part serves the given parts in order, each as the WebSocket
client would); the session, the sink and the player are the device's own. The player runs
against a speaker that keeps what it is given, so "played" means what reached the I2S writer.
"""

import asyncio
import base64
import json

import pytest
from app import state as S
from app.downlink import Downlink
from cloud.coze_chat import CozeChat

from audio.player import Player


class PartsSocket:
    """recv_part() over a list of (bytes, fin) parts; raises EOFError when they run out."""

    def __init__(self, parts):
        self._parts = list(parts)
        self.part = bytearray(0)
        self.part_len = 0
        self.fin = False

    async def recv_part(self):
        if not self._parts:
            raise EOFError
        data, self.fin = self._parts.pop(0)
        self.part = bytearray(data)
        self.part_len = len(data)
        return 1


class KeepingSpeaker:
    def __init__(self):
        self.got = bytearray()

    async def write(self, buf, n=None):
        self.got += bytes(buf[: len(buf) if n is None else n])
        await asyncio.sleep(0)

    def discard(self):
        pass


class Log:
    def __init__(self):
        self.lines = []

    def warn(self, what, line):
        self.lines.append(("W", what, line))

    info = debug = error = warn


class Queue:
    def __init__(self):
        self.posted = []

    def post(self, event, detail=None):
        self.posted.append(event)


def delta(pcm, chat_id="c1", chat_first=False, type_first=True, content=None):
    data = {"id": "m1", "role": "assistant", "type": "answer",
            "content": content if content is not None else base64.b64encode(pcm).decode(),
            "content_type": "audio", "chat_id": chat_id}
    if chat_first:
        data = {"chat_id": chat_id, **data}
    msg = {"event_type": "conversation.audio.delta", "id": "e1", "data": data}
    if not type_first:
        msg = {"id": "e1", "data": data, "event_type": "conversation.audio.delta"}
    return json.dumps(msg).encode()


def parts(message, size):
    return [(message[i:i + size], i + size >= len(message)) for i in range(0, len(message), size)]


def pcm_bytes(n, seed=1):
    return bytes((i * 7 + seed * 13 + (i >> 8)) & 0xFF for i in range(n))


def run_downlink(messages, buffer_ms=300, part_size=257, before=None):
    """Feed the messages (each split into part_size pieces) to the app's Downlink; returns
    (bytes played, log lines, posted events, session)."""
    async def go():
        session = CozeChat({"bot_id": "7400000000000000000"}, log=lambda line: None)
        session.reply.created("c1")  # a chat runs: its audio is wanted
        if before is not None:
            before(session)
        speaker = KeepingSpeaker()
        player = Player(speaker, rate=24000, buffer_ms=buffer_ms, prefill_ms=20,
                        in_rate=24000)
        player.start()
        log, queue = Log(), Queue()
        dl = Downlink(session, None, queue, log, None)
        dl.player = player
        dl.sink.player = player
        ws = PartsSocket([p for m in messages for p in parts(m, part_size)])
        for _ in messages:
            await asyncio.wait_for(dl.receive_message(ws), 10)
        player.end_of_turn()
        await asyncio.wait_for(player.idle.wait(), 10)
        player.deinit()
        return bytes(speaker.got).rstrip(b"\0"), log.lines, queue.posted, session

    return asyncio.run(go())


@pytest.mark.parametrize("part_size", [1, 3, 257, 100000])
def test_a_delta_plays_exactly_whatever_the_parts(part_size):
    audio = pcm_bytes(6000)
    played, lines, posted, _ = run_downlink([delta(audio)], part_size=part_size)
    assert played == audio and lines == [] and posted == [S.E_AUDIO]


def test_stale_by_a_chat_id_that_comes_after_the_audio_is_dropped_whole():
    # The device dropped reply c0; a late delta of c0 arrives while c1 runs: Coze puts chat_id
    # after the content, so only the held audio's commit at the message end can tell.
    def dropped_c0(session):
        session.reply.created("c0")
        session.reply.drop()
        session.reply.created("c1")
    old, new = pcm_bytes(3000, 2), pcm_bytes(3000, 3)
    played, _, _, _ = run_downlink([delta(old, "c0"), delta(new, "c1")], before=dropped_c0)
    assert played == new


def test_a_small_corrupt_delta_is_dropped_whole_and_said_once():
    good = pcm_bytes(3000)
    b64 = base64.b64encode(pcm_bytes(3000, 5)).decode()
    bad = b64[:-40] + "!" + b64[-39:]  # a bad byte near the end: nothing of it may play
    played, lines, _, _ = run_downlink([delta(b"", content=bad), delta(good)])
    assert played == good
    assert len(lines) == 1 and "bad byte" in lines[0][2] and "e1" in lines[0][2]


def test_a_delta_bigger_than_the_player_plays_as_it_streams_up_to_a_late_bad_byte():
    # 2 s of audio into a 300 ms ring: it cannot be held, so it is committed as it comes; a
    # bad byte near its end drops only the rest (what played before it was exact).
    audio = pcm_bytes(96000)
    b64 = base64.b64encode(audio).decode()
    cut = len(b64) - 400
    bad = b64[:cut] + "*" + b64[cut + 1:]
    played, lines, _, _ = run_downlink([delta(b"", content=bad)])
    assert len(played) > len(audio) // 2 and audio.startswith(played[: len(played) // 3 * 3])
    assert len(lines) == 1 and "bad byte" in lines[0][2]


def test_audio_before_its_event_type_is_held_and_plays_when_the_type_says_audio():
    audio = pcm_bytes(4000)
    played, lines, _, _ = run_downlink([delta(audio, type_first=False)])
    assert played == audio and lines == []


def test_a_text_field_that_looks_like_base64_plays_nothing():
    # A message.delta's content before its type: held as possible audio, then rolled back.
    msg = json.dumps({"id": "e2", "data": {"content": "QUJDRA==", "chat_id": "c1",
                                            "role": "assistant", "type": "answer"},
                      "event_type": "conversation.message.delta"}).encode()
    audio = pcm_bytes(2000)
    played, lines, _, _ = run_downlink([msg, delta(audio)])
    assert played == audio and lines == []


def test_a_malformed_message_is_skipped_to_its_end_and_the_next_plays():
    broken = b'{"event_type":"conversation.audio.delta","data":{"content":"AAAA"]]]' + b"x" * 900
    audio = pcm_bytes(3000)
    played, lines, _, _ = run_downlink([broken, delta(audio)], part_size=100)
    assert played == audio
    assert len(lines) == 1 and "malformed" in lines[0][2]


def test_a_barge_in_while_a_big_delta_streams_drops_the_rest():
    audio = pcm_bytes(96000)

    async def go():
        session = CozeChat({"bot_id": "7400000000000000000"}, log=lambda line: None)
        session.reply.created("c1")
        speaker = KeepingSpeaker()
        player = Player(speaker, rate=24000, buffer_ms=300, prefill_ms=20, in_rate=24000)
        player.start()
        dl = Downlink(session, None, Queue(), Log(), None)
        dl.player = dl.sink.player = player
        ws = PartsSocket(parts(delta(audio), 1000))
        task = asyncio.ensure_future(dl.receive_message(ws))
        while len(speaker.got) < 24000:  # half a second played
            await asyncio.sleep(0.001)
        session.cancel()  # the user pressed: the reply is dropped ...
        player.clear()  # ... and the player silenced
        heard = len(speaker.got)
        await asyncio.wait_for(task, 10)
        await asyncio.sleep(0.05)
        player.deinit()
        return heard, len(speaker.got.rstrip(b"\0"))

    heard, total = asyncio.run(go())
    assert total <= heard + 2 * 64 * 2  # at most a chunk in flight after the clear


def test_a_rollback_after_a_clear_keeps_no_half_sample():
    # Held audio, an odd byte of it already committed, then a barge-in clear and the rollback
    # of the stale rest: the next reply must start on a sample boundary (a byte shift here made
    # a later answer noise).
    async def go():
        speaker = KeepingSpeaker()
        player = Player(speaker, rate=24000, buffer_ms=300, prefill_ms=20, in_rate=24000)
        player.hold()
        player.write(b"\x01\x02\x03")  # one sample and half of the next
        player.commit()
        player.hold()
        player.write(b"\x04\x05")
        player.clear()
        player.rollback()
        player.start()
        player.write(b"\x10\x20\x30\x40")
        player.end_of_turn()
        await asyncio.wait_for(player.idle.wait(), 10)
        player.deinit()
        return bytes(speaker.got).strip(b"\0")

    assert asyncio.run(go()) == b"\x10\x20\x30\x40"
