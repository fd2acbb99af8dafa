# ESP32-S3 DevKitC + INMP441 mic + MAX98357A amp, each on its own I2S bus (the common
# breadboard build; same pins as xiaozhi-esp32's bread-compact boards). See boards/README.md.
from boards import rx_ibuf, speaker_bus_rate, tx_ibuf

NAME = "esp32s3_inmp441"
CHIP = "esp32s3"
PINS = {
    "mic_sck": 5, "mic_ws": 4, "mic_sd": 6,
    "spk_bclk": 15, "spk_lrc": 16, "spk_din": 7,
    "button": 0,  # BOOT button, active low
    "led": None,  # the DevKitC's GPIO48/38 LED is a WS2812, not a plain GPIO LED
}
# INMP441: 24-bit samples left-justified in 32-bit slots, L/R pin to GND = left slot.
MIC = {"bus": 0, "rate": 16000, "slot_bits": 32, "channels": 1, "shift": 14,
       "ibuf": rx_ibuf()}
# MAX98357A: mono amp; a mono 16-bit bus plays each sample on both slots.
SPEAKER = {"bus": 1, "rate": 16000, "bits": 16, "channels": 1, "ibuf": tx_ibuf(16, 1)}


def build(machine, speaker_rate=None):
    Pin = machine.Pin
    rate = speaker_bus_rate(speaker_rate, SPEAKER["rate"])
    I2S = machine.I2S
    mic = I2S(0, sck=Pin(5), ws=Pin(4), sd=Pin(6), mode=I2S.RX, bits=32, format=I2S.MONO,
              rate=16000, ibuf=rx_ibuf())
    speaker = I2S(1, sck=Pin(15), ws=Pin(16), sd=Pin(7), mode=I2S.TX, bits=16,
                  format=I2S.MONO, rate=rate, ibuf=tx_ibuf(16, 1))
    button = Pin(0, Pin.IN, Pin.PULL_UP)
    return {"mic_i2s": mic, "speaker_i2s": speaker, "speaker_rate": rate, "button": button,
            "led": None}
