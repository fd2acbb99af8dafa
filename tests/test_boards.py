# boards/: the registry, each board's build() against a fake machine module (the vhw I2S plus a
# strict Pin and a recording I2C), and the ES8311 init compared register by register with the
# datasheet sequence.
import types

import pytest

import boards
from audio.es8311 import ES8311, ES8311Error
from audio.player import _CHUNK_FRAMES
from tools.vhw.clock import VirtualClock
from tools.vhw.i2s import make_i2s


class Pin:
    IN, OUT, OPEN_DRAIN = 1, 3, 7
    PULL_UP, PULL_DOWN = 2, 1

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        if not isinstance(id, int) or not 0 <= id <= 48:
            raise ValueError("invalid pin")
        if mode not in (-1, self.IN, self.OUT, self.OPEN_DRAIN):
            raise ValueError("invalid pin mode")
        self.id, self.mode, self.pull = id, mode, pull
        self._value = value if value is not None else (1 if pull == self.PULL_UP else 0)

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = v


class FakeES8311Bus:
    """machine.I2C stand-in with an ES8311 behind it: a register file with reset defaults that
    records every write as (register, value)."""

    DEFAULTS = {0x00: 0x1F, 0x01: 0x00, 0x02: 0x00, 0x06: 0x03, 0x07: 0x00, 0xFD: 0x83,
                0xFE: 0x11}

    def __init__(self, id=0, *, scl, sda, freq=400000, chip=(0x83, 0x11)):
        self.regs = dict(self.DEFAULTS)
        self.regs[0xFD], self.regs[0xFE] = chip
        self.writes = []

    def readfrom_mem_into(self, addr, reg, buf):
        if addr != 0x18:
            raise OSError(19, "ENODEV")
        buf[0] = self.regs.get(reg, 0)

    def writeto_mem(self, addr, reg, buf):
        if addr != 0x18:
            raise OSError(19, "ENODEV")
        assert len(buf) == 1
        self.regs[reg] = buf[0]
        self.writes.append((reg, buf[0]))


def fake_machine(clock=None):
    machine = types.ModuleType("machine")
    machine.Pin = Pin
    machine.I2S = make_i2s(clock or VirtualClock())
    machine.I2C = FakeES8311Bus
    return machine


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(ValueError) as err:
        boards.load("esp32c3_whatever")
    for name in boards.KNOWN:
        assert name in str(err.value)
    assert "config.json" in str(err.value)


@pytest.mark.parametrize("name", boards.KNOWN)
def test_board_builds_what_it_declares(name):
    board = boards.load(name)
    assert board.NAME == name and board.CHIP in ("esp32", "esp32s3")
    hw = board.build(fake_machine())
    mic, spk = hw["mic_i2s"], hw["speaker_i2s"]
    assert mic.mode == mic.RX and spk.mode == spk.TX
    assert (mic.rate, mic.bits) == (board.MIC["rate"], board.MIC["slot_bits"])
    assert (spk.rate, spk.bits) == (board.SPEAKER["rate"], board.SPEAKER["bits"])
    assert spk.format == (spk.STEREO if board.SPEAKER["channels"] == 2 else spk.MONO)
    assert (mic.id, spk.id) == (board.MIC["bus"], board.SPEAKER["bus"])
    assert mic.pins["sck"].id == board.PINS["mic_sck"]
    assert mic.pins["sd"].id == board.PINS["mic_sd"]
    assert hw["button"].id == board.PINS["button"] and hw["button"].pull == Pin.PULL_UP
    assert (hw["led"] is None) == (board.PINS["led"] is None)
    # Barge-in bound: what the TX DMA holds plus one player chunk stays under 40 ms.
    assert spk.dma_buffers == 2
    late_ms = spk.dma_ms + _CHUNK_FRAMES * 1000 / spk.rate
    assert late_ms < 40, "%s: %.1f ms of audio after clear()" % (name, late_ms)
    used = [v for v in board.PINS.values() if v is not None]
    assert len(used) == len(set(used)), "a GPIO is wired twice"


# The datasheet power-up for I2S slave playback, MCLK from BCLK at 64 fs, 16 kHz, 16-bit:
# (register, value) in order. Dividers: pre_div 1, pre_multi x4 (sel 2), adc/dac_div 1,
# single speed, LRCK divider 0x0FF (256 MCLK per frame), BCLK divider 4, OSR 0x10.
DATASHEET_16K = [
    (0x00, 0x1F), (0x00, 0x00), (0x00, 0x80),  # reset, then power-on state machine
    (0x01, 0xBF),  # all clocks on, MCLK from BCLK
    (0x06, 0x03),  # BCLK not inverted
    (0x02, 0x10), (0x03, 0x10), (0x04, 0x10), (0x05, 0x00),
    (0x06, 0x03), (0x07, 0x00), (0x08, 0xFF),
    (0x00, 0x80),  # slave serial port
    (0x09, 0x0C), (0x0A, 0x0C),  # I2S, 16-bit in and out
    (0x0D, 0x01), (0x0E, 0x02), (0x12, 0x00), (0x13, 0x10), (0x1C, 0x6A), (0x37, 0x48),
    (0x32, 0xBF),  # DAC volume 0 dB
]


def test_es8311_init_matches_the_datasheet_sequence():
    bus = FakeES8311Bus(scl=2, sda=1)
    slept = []
    ES8311(bus, sleep_ms=slept.append).init(rate=16000)
    assert bus.writes == DATASHEET_16K
    assert slept == [20]


def test_es8311_board_initialises_the_codec_and_enables_the_amp_after():
    hw = boards.load("esp32s3_es8311").build(fake_machine())
    assert hw["i2c"].writes == DATASHEET_16K


def test_es8311_errors_are_clear():
    bus = FakeES8311Bus(scl=2, sda=1, chip=(0x10, 0x01))
    with pytest.raises(ES8311Error, match="not an ES8311"):
        ES8311(bus, sleep_ms=lambda ms: None).init()
    with pytest.raises(ES8311Error, match="no answer at I2C address 0x19"):
        ES8311(FakeES8311Bus(scl=2, sda=1), address=0x19).init()
    with pytest.raises(ES8311Error, match="rate 44100 unsupported"):
        ES8311(FakeES8311Bus(scl=2, sda=1)).init(rate=44100)
    codec = ES8311(FakeES8311Bus(scl=2, sda=1))
    codec.set_volume_db(-200)
    codec.set_volume_db(6)
    assert codec.i2c.writes == [(0x32, 0x00), (0x32, 0xCB)]
