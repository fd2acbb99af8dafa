# Network audio -> speaker: a ring buffer sized in milliseconds, with prefill, underrun handling,
# barge-in clear, back-pressure, G.711 decoding and resampling on the way in.
#
#   player = Player(speaker, rate=16000, codec="pcm", in_rate=24000)
#   task = asyncio.create_task(player.run())
#   ... network task:  await player.wait_room(len(msg)); player.write(msg)
#   ... end of the bot's turn: player.end_of_turn();  barge-in: player.clear()
#
# Behaviour (tests/test_audio_player.py asserts each one on the exact samples that reach the
# virtual I2S):
# - Playback starts when prefill_ms is buffered, or at end_of_turn() if that comes first.
# - Underrun (ring empty mid-turn): silence is played, counted in stats["underruns"], and
#   playback resumes only once the ring is back at the prefill threshold (or the turn ended).
# - write() takes any byte length; a 16-bit sample split across two writes plays correctly.
#   It never drops: data that does not fit raises OverflowError. The network task awaits
#   wait_room(n) before reading the socket, so a bursting server is slowed by TCP flow control
#   and memory stays at buffer_ms whatever it sends.
# - clear() empties the ring at once. What can still be heard is what the I2S DMA already holds
#   plus at most one chunk the play task is handing over. The ESP32 port gives the TX DMA at
#   least two buffers of 256 frames (16 ms each at 16 kHz); boards size ibuf to exactly that
#   (boards.tx_ibuf), and chunks are 64 frames, so the bound is 32 + 4 = 36 ms at 16 kHz and
#   21 + 3 = 24 ms at 24 kHz: under the 40 ms target.
# - When a turn has played out, a tail of silence (tail_ms, >= the DMA depth) is written so the
#   DMA does not replay stale buffers, and then `idle` is set.
# - Every silence inside a reply is counted, with its cause (on_gap(kind, ms) tells the app):
#   "underrun": the ring ran dry (the audio had not arrived); the silence played until the
#   refill is stats["underrun_ms"]. "late": the ring had audio but this task wrote it after the
#   DMA had played out everything queued (the CPU was elsewhere), so the DMA played zeros; each
#   write knows when the DMA runs dry (the time of the previous write plus what it queued), and
#   lateness past one chunk is stats["late_gaps"] / stats["late_ms"].
import asyncio
import time

from micropython import const

from audio import g711, pcm
from audio.pcm import Resampler
from audio.ring import Ring

CODECS = ("pcm", "g711a", "g711u")
_CHUNK_FRAMES = const(64)  # frames handed to the speaker per write (bounds barge-in latency)
_SCRATCH = const(256)  # samples decoded / resampled per step of write()


def _ms_to_bytes(ms, rate):
    return (ms * rate // 1000) * 2


class Player:
    def __init__(self, speaker, rate=16000, buffer_ms=600, prefill_ms=120, codec="pcm",
                 in_rate=None, tail_ms=40):
        if codec not in CODECS:
            raise ValueError("player: unsupported codec %r (supported: %s)"
                             % (codec, ", ".join(CODECS)))
        if prefill_ms > buffer_ms:
            raise ValueError("player: prefill_ms %d exceeds buffer_ms %d"
                             % (prefill_ms, buffer_ms))
        self.speaker = speaker
        self.rate = rate
        self.in_rate = in_rate or rate
        self.codec = codec
        self._ring = Ring(_ms_to_bytes(buffer_ms, rate))
        self._prefill = _ms_to_bytes(prefill_ms, rate)
        self._tail_bytes = _ms_to_bytes(tail_ms, rate)
        self._chunk = bytearray(2 * _CHUNK_FRAMES)
        self._silence = bytearray(2 * _CHUNK_FRAMES)
        self._resampler = Resampler(self.in_rate, rate) if self.in_rate != rate else None
        need_scratch = codec != "pcm" or self._resampler is not None
        self._scratch = bytearray(2 * _SCRATCH) if need_scratch else None
        if self._resampler is not None:
            self._resampled = bytearray(2 * self._resampler.max_out(_SCRATCH))
        # Lateness below one chunk is the scheduler's jitter, inaudible behind the DMA's depth.
        self._slack_us = _CHUNK_FRAMES * 1_000_000 // rate
        self._pair = bytearray(2)
        self._carry = -1  # low byte of a sample split across writes, or -1
        self._held_carry = -1  # _carry when hold() began (rollback() restores it)
        self._playing = False
        self._refill = False  # underrun: silence until the ring is back at prefill
        self._eot = False
        self._tail = 0
        self._task = None
        self._dry_at = 0  # ticks_us when the DMA will have played all it was given
        self._in_reply = False  # a reply's audio has started and has not ended
        self._refill_bytes = 0  # silence played in the current underrun
        self.on_gap = None  # on_gap(kind, ms): "underrun" | "late", told as each gap ends
        self._data = asyncio.Event()
        self._room = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.stats = {"underruns": 0, "peak_fill_bytes": 0, "bytes_played": 0, "bytes_in": 0,
                      "silence_bytes": 0, "clears": 0, "odd_bytes_dropped": 0,
                      "underrun_ms": 0, "late_gaps": 0, "late_ms": 0}

    # -- network side (sans-IO) -------------------------------------------------------------

    def buffered_ms(self):
        return self._ring.used() * 500 // self.rate

    def room(self):
        """Input bytes write() accepts now."""
        free = self._ring.free() >> 1
        if self._resampler is not None:
            # A block of n input samples yields at most n * rate / in_rate + 1 outputs.
            free = (free - 1) * self.in_rate // self.rate if free > 0 else 0
        if self.codec != "pcm":
            return free
        return 2 * free - (1 if self._carry >= 0 else 0)

    def max_write(self):
        """The largest single write() that can ever fit (an empty ring)."""
        free = self._ring.size >> 1
        if self._resampler is not None:
            free = (free - 1) * self.in_rate // self.rate
        return free if self.codec != "pcm" else 2 * free - 1

    async def wait_room(self, n):
        """Wait until write() can take n bytes (the network task's back-pressure)."""
        if n > self.max_write():
            raise ValueError("player: a %d-byte write can never fit (buffer takes %d); "
                             "raise buffer_ms or read smaller pieces" % (n, self.max_write()))
        while self.room() < n:
            self._room.clear()
            await self._room.wait()

    def write(self, data):
        """Queue encoded audio; raises OverflowError (and keeps nothing) if it does not fit."""
        n = len(data)
        if n > self.room():
            raise OverflowError("player: %d bytes with room for %d; await wait_room() first"
                                % (n, self.room()))
        if n == 0:
            return 0
        if self.codec != "pcm":
            self._decode_in(data, n)
        elif self._resampler is None:
            self._pcm_in(data, n)
        else:
            self._pcm_resample_in(data, n)
        self.stats["bytes_in"] += n
        used = self._ring.used() + self._ring.held()
        if used > self.stats["peak_fill_bytes"]:
            self.stats["peak_fill_bytes"] = used
        if not self._ring.holding:
            self.idle.clear()
            self._data.set()
        return n

    # Held audio (the downlink's look-back): written, not played until commit().
    def hold(self):
        """Hold what write() takes from here until commit() or rollback()."""
        self._ring.holding = True
        self._held_carry = self._carry

    def held(self):
        return self._ring.held()

    def commit(self):
        """Play what was held; writes are played at once again."""
        ring = self._ring
        ring.holding = False
        if ring.held():
            ring.commit()
            self.idle.clear()
            self._data.set()

    def rollback(self):
        """Drop what was held (a stale or corrupt delta); writes are played at once again."""
        ring = self._ring
        if ring.holding:
            ring.holding = False
            ring.rollback()
            self._carry = self._held_carry
            self._room.set()

    def _pcm_in(self, data, n):
        off = 0
        if self._carry >= 0:
            self._pair[0] = self._carry
            self._pair[1] = data[0]
            self._carry = -1
            self._ring.write(self._pair, 2)
            off = 1
        whole = (n - off) & ~1
        if whole:
            self._ring.write(data, whole, off)
        self._carry = data[n - 1] if (n - off) & 1 else -1

    def _pcm_resample_in(self, data, n):
        scratch = self._scratch
        off = 0
        while off < n:
            filled = 0
            if self._carry >= 0:
                scratch[0] = self._carry
                scratch[1] = data[off]
                self._carry = -1
                off += 1
                filled = 2
            take = min((n - off) & ~1, 2 * _SCRATCH - filled)
            if take:
                pcm.copy(scratch, filled, data, off, take)
                off += take
                filled += take
            if n - off == 1 and filled < 2 * _SCRATCH:
                self._carry = data[off]
                off += 1
            self._resample_out(filled >> 1)

    def _decode_in(self, data, n):
        # One memoryview per 256 codes (g711 decodes from offset 0): 16 bytes, accepted.
        decode = g711.decode_alaw if self.codec == "g711a" else g711.decode_ulaw
        off = 0
        view = memoryview(data)
        while off < n:
            take = n - off if n - off < _SCRATCH else _SCRATCH
            decode(view[off : off + take], self._scratch, take)
            off += take
            if self._resampler is None:
                self._ring.write(self._scratch, 2 * take)
            else:
                self._resample_out(take)

    def _resample_out(self, samples):
        if samples:
            out = self._resampler.process(self._scratch, samples, self._resampled)
            self._ring.write(self._resampled, 2 * out)

    def end_of_turn(self):
        """No more audio for this turn: play what is buffered even if below prefill."""
        if self._carry >= 0:
            self.stats["odd_bytes_dropped"] += 1  # half a sample cannot be played
            self._carry = -1
        self._eot = True
        self._data.set()

    def clear(self):
        """Barge-in: drop everything buffered; only what the DMA holds is still heard."""
        self._ring.clear()
        self._carry = -1
        self._held_carry = -1  # a rollback after the clear must not bring back a half sample
        if self._resampler is not None:
            self._resampler.reset()
        self.speaker.discard()
        if self._playing or self._refill:
            self._tail = self._tail_bytes
        self._playing = False
        self._refill = False
        self._eot = False
        self._in_reply = False  # a barge-in ends the reply: the silence after it is wanted
        self.stats["clears"] += 1
        self._room.set()
        self._data.set()

    # -- play task ---------------------------------------------------------------------------

    def _ready(self):
        used = self._ring.used()
        return used >= self._prefill or (self._eot and used >= 2)

    async def run(self):
        """The play task: ring -> speaker, silence on underrun. Cancel it to stop."""
        speaker = self.speaker
        chunk = self._chunk
        ring = self._ring
        while True:
            if not self._playing:
                if self._ready():
                    self._playing = True
                    self._end_underrun()
                    self._refill = False
                    self._tail = 0
                    continue
                if self._refill and self._eot:
                    # The turn ended exactly as the ring ran dry: nothing left to wait for.
                    self._end_underrun()
                    self._refill = False
                    self._eot = False
                    self._tail = self._tail_bytes
                if self._refill or self._tail > 0:
                    # Keep the DMA fed with zeros, not stale buffers.
                    if self._tail > 0:
                        self._tail -= len(self._silence)
                        self._in_reply = False  # the reply has played out
                    else:
                        self._refill_bytes += len(self._silence)
                    self._note_write(len(self._silence))
                    await speaker.write(self._silence)
                    self.stats["silence_bytes"] += len(self._silence)
                    continue
                if ring.used() < 2:
                    self._eot = False
                    self._in_reply = False
                    self.idle.set()
                self._data.clear()
                await self._data.wait()
                continue
            n = ring.readinto(chunk, ring.used() & ~1 if ring.used() < len(chunk) else len(chunk))
            if n == 0:
                self._playing = False
                if self._eot:
                    self._eot = False
                    self._tail = self._tail_bytes
                else:
                    self.stats["underruns"] += 1
                    self._refill = True
                continue
            self._room.set()
            self._note_write(n)
            self._in_reply = True
            await speaker.write(chunk, n)
            self.stats["bytes_played"] += n

    def _note_write(self, nbytes):
        # Called just before a write: everything written before has reached the DMA (write()
        # returns once it has), so if the DMA's end of audio is already past, it played zeros.
        now = time.ticks_us()
        start = now
        if self._in_reply:
            # Only against the previous write of the same reply: a stale _dry_at is meaningless
            # (and, half a ticks period away, would read as "in the future" for minutes).
            late = time.ticks_diff(now, self._dry_at)
            if late > self._slack_us:
                ms = late // 1000
                self.stats["late_gaps"] += 1
                self.stats["late_ms"] += ms
                if self.on_gap is not None:
                    self.on_gap("late", ms)
            if late <= 0:
                start = self._dry_at
        self._dry_at = time.ticks_add(start, (nbytes >> 1) * 1_000_000 // self.rate)

    def _end_underrun(self):
        if self._refill_bytes:
            ms = self._refill_bytes * 500 // self.rate
            self.stats["underrun_ms"] += ms
            self._refill_bytes = 0
            if self.on_gap is not None:
                self.on_gap("underrun", ms)

    def start(self):
        """Start run() as a task the player owns (deinit() cancels it)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run())
        return self._task

    def deinit(self):
        self.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None

