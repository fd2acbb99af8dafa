# Classic ESP32-WROOM-32 DevKit + INMP441 mic + MAX98357A amp on two I2S buses. Pins avoid the
# strapping pins (0 is only the button, 2 the LED) and the input-only 34..39 for outputs.
# No PSRAM on most WROOM modules: keep the player's buffer_ms modest. See boards/README.md.
from boards import rx_ibuf, speaker_bus_rate, tx_ibuf

NAME = "esp32_inmp441"
CHIP = "esp32"
PINS = {
    "mic_sck": 32, "mic_ws": 25, "mic_sd": 33,
    "spk_bclk": 26, "spk_lrc": 27, "spk_din": 22,
    "button": 0,  # BOOT button, active low
    "led": 2,  # the DevKit's blue LED, active high
}
MIC = {"bus": 0, "rate": 16000, "slot_bits": 32, "channels": 1, "shift": 14,
       "ibuf": rx_ibuf(6)}
SPEAKER = {"bus": 1, "rate": 16000, "bits": 16, "channels": 1, "ibuf": tx_ibuf(16, 1)}


def build(machine, speaker_rate=None):
    Pin = machine.Pin
    rate = speaker_bus_rate(speaker_rate, SPEAKER["rate"])
    I2S = machine.I2S
    mic = I2S(0, sck=Pin(32), ws=Pin(25), sd=Pin(33), mode=I2S.RX, bits=32, format=I2S.MONO,
              rate=16000, ibuf=rx_ibuf(6))
    speaker = I2S(1, sck=Pin(26), ws=Pin(27), sd=Pin(22), mode=I2S.TX, bits=16,
                  format=I2S.MONO, rate=rate, ibuf=tx_ibuf(16, 1))
    button = Pin(0, Pin.IN, Pin.PULL_UP)
    led = Pin(2, Pin.OUT, value=0)
    return {"mic_i2s": mic, "speaker_i2s": speaker, "speaker_rate": rate, "button": button,
            "led": led}
