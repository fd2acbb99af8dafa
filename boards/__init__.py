# Board registry: `load(name)` returns the module for one wiring. Each board module exports
#   NAME, CHIP ("esp32" | "esp32s3"), PINS (name -> GPIO), MIC and SPEAKER (format facts), and
#   build(machine[, speaker_rate]) -> {"mic_i2s", "speaker_i2s", "button", "led"[, "speaker_rate"]}
#   (boards with their own speaker bus run it at the downlink's rate, see speaker_bus_rate)
# `build` takes the machine module as an argument so the simulator can pass its fake one; only
# firmware/ calls it with the real `machine`.
#
# DMA sizing (why TX ibuf is what it is): the ESP32 port splits ibuf into DMA buffers of 256
# frames and allocates at least two. Audio already in the DMA cannot be recalled, so after a
# barge-in clear() up to the whole TX DMA is still heard. tx_ibuf() asks for exactly two
# buffers: 2 x 256 / 16000 = 32 ms at 16 kHz, 21 ms at 24 kHz (+ one 64-frame player chunk),
# under the 40 ms target. A bigger ibuf buys no underrun margin that the player's ring does not
# already give, and costs barge-in latency. RX ibuf can be generous: nothing is recalled there.
import sys

KNOWN = ("esp32s3_inmp441", "esp32_inmp441", "esp32s3_es8311")

_DMA_FRAMES = 256  # frames per DMA buffer in the ESP32 port's machine_i2s.c


def tx_ibuf(bits, channels):
    """TX ibuf for the minimum two DMA buffers."""
    return 2 * _DMA_FRAMES * (bits // 8) * channels


def tx_dma_ms(rate):
    """Milliseconds of audio the TX DMA holds with tx_ibuf()."""
    return 2 * _DMA_FRAMES * 1000 // rate


def rx_ibuf(buffers=8):
    """RX ibuf: the port always reads 32-bit stereo frames (8 bytes) from the DMA."""
    return buffers * _DMA_FRAMES * 8


def speaker_bus_rate(wanted, default):
    """The TX bus rate on a board whose speaker has its own bus: the downlink's rate, so the
    player need not resample, but never below 16 kHz, where the two-buffer DMA would hold
    64 ms (at 8 kHz) and break the 40 ms barge-in bound."""
    if wanted in (16000, 24000):
        return wanted
    return default


def load(name):
    """The board module called `name`; a clear error lists the known ones."""
    if name not in KNOWN:
        raise ValueError("unknown board %r; known boards: %s (set \"board\" in config.json)"
                         % (name, ", ".join(KNOWN)))
    full = "boards." + name
    __import__(full)
    return sys.modules[full]
