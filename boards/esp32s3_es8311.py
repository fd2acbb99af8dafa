# ESP32-S3 + ES8311 codec module (DAC -> NS4150 class-D amp) for the speaker, INMP441 for the mic.
#
# Clocking: MicroPython's ESP32 I2S has no MCLK output, so the ES8311 takes its master clock
# from BCLK. The ESP32 drives the codec bus with 32-bit mono slots: BCLK = 64 x fs (1.024 MHz at
# 16 kHz), a ratio in the codec's clock table; the codec reads the top 16 bits of each slot.
# The mic is a separate INMP441 on the second bus because machine.I2S is one direction per bus:
# the codec's ADC would need RX and TX on the same BCLK/LRCK, which the port cannot do. The
# speaker bus runs at 16 kHz (the player resamples a 24 kHz downlink). See boards/README.md.
from audio.es8311 import ES8311
from boards import rx_ibuf, tx_ibuf

NAME = "esp32s3_es8311"
CHIP = "esp32s3"
PINS = {
    "codec_sda": 1, "codec_scl": 2,
    "codec_bclk": 14, "codec_lrck": 13, "codec_dsdin": 12,
    "pa_enable": 11,  # NS4150 enable, active high
    "mic_sck": 5, "mic_ws": 4, "mic_sd": 6,
    "button": 0,
    "led": None,
}
MIC = {"bus": 1, "rate": 16000, "slot_bits": 32, "channels": 1, "shift": 14,
       "ibuf": rx_ibuf()}
SPEAKER = {"bus": 0, "rate": 16000, "bits": 32, "channels": 1, "ibuf": tx_ibuf(32, 1),
           "codec": "es8311"}


def build(machine, speaker_rate=None, volume_db=0):
    # The codec is clocked for 16 kHz (MCLK from BCLK): its bus rate is fixed.
    Pin = machine.Pin
    I2S = machine.I2S
    # Start the bus first: the codec's clock manager runs from BCLK.
    speaker = I2S(0, sck=Pin(14), ws=Pin(13), sd=Pin(12), mode=I2S.TX, bits=32,
                  format=I2S.MONO, rate=16000, ibuf=tx_ibuf(32, 1))
    i2c = machine.I2C(0, scl=Pin(2), sda=Pin(1), freq=400000)
    ES8311(i2c).init(rate=16000, volume_db=volume_db)
    Pin(11, Pin.OUT, value=1)  # amplifier on only once the codec is configured
    mic = I2S(1, sck=Pin(5), ws=Pin(4), sd=Pin(6), mode=I2S.RX, bits=32, format=I2S.MONO,
              rate=16000, ibuf=rx_ibuf())
    button = Pin(0, Pin.IN, Pin.PULL_UP)
    return {"mic_i2s": mic, "speaker_i2s": speaker, "button": button, "led": None,
            "i2c": i2c}
