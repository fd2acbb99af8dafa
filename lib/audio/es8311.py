# ES8311 mono codec (Everest Semi) init over I2C, for boards whose speaker path is this codec.
#
# Clocking: MicroPython's ESP32 I2S outputs no MCLK, so the codec derives its master clock from
# BCLK (REG01 bit 7). The ESP32 is the I2S master with 32-bit slots, so BCLK = 64 x fs: 1.024 MHz
# at 16 kHz, 1.536 MHz at 24 kHz. The divider values per rate come from the datasheet's clock
# table for those MCLK/fs pairs. The codec is a slave in I2S (Philips) format, 16-bit resolution:
# it takes the top 16 bits of each 32-bit slot (audio/speaker.py, bits=32).
#
# The register sequence (tests/test_boards.py replays it against a recording fake I2C and
# compares write by write): reset, clock source and dividers, serial port format, then analog
# power-up and the DAC path, then volume.
from micropython import const

ADDRESS = const(0x18)  # CE pin low
_CHIP_ID = (0x83, 0x11)  # REG FD, FE

# fs -> (pre_div, pre_mult_sel, adc_div, dac_div, fs_mode, lrck_h, lrck_l, bclk_div, adc_osr,
#        dac_osr) for MCLK = 64 x fs taken from BCLK.
_CLOCKS = {
    16000: (1, 2, 1, 1, 0, 0x00, 0xFF, 4, 0x10, 0x10),
    24000: (1, 2, 1, 1, 0, 0x00, 0xFF, 4, 0x10, 0x10),
    32000: (1, 2, 1, 1, 0, 0x00, 0xFF, 4, 0x10, 0x10),
}
RATES = tuple(sorted(_CLOCKS))


class ES8311Error(Exception):
    pass


class ES8311:
    def __init__(self, i2c, address=ADDRESS, sleep_ms=None):
        self.i2c = i2c
        self.address = address
        self._buf = bytearray(1)
        if sleep_ms is None:
            import time

            sleep_ms = time.sleep_ms
        self._sleep_ms = sleep_ms

    def read(self, reg):
        self.i2c.readfrom_mem_into(self.address, reg, self._buf)
        return self._buf[0]

    def write(self, reg, value):
        self._buf[0] = value & 0xFF
        self.i2c.writeto_mem(self.address, reg, self._buf)

    def check_id(self):
        try:
            chip = (self.read(0xFD), self.read(0xFE))
        except OSError as exc:
            raise ES8311Error("es8311: no answer at I2C address 0x%02x (%s); check SDA/SCL wiring "
                              "and the codec's power" % (self.address, exc)) from None
        if chip != _CHIP_ID:
            raise ES8311Error("es8311: chip id %02x %02x at 0x%02x is not an ES8311 (83 11)"
                              % (chip[0], chip[1], self.address))

    def init(self, rate=16000, volume_db=0):
        """Reset and configure for I2S slave playback at `rate` with MCLK from BCLK (64 fs)."""
        if rate not in _CLOCKS:
            raise ES8311Error("es8311: rate %d unsupported (use one of %s)"
                              % (rate, ", ".join(str(r) for r in RATES)))
        pre_div, mult, adc_div, dac_div, fs_mode, lrck_h, lrck_l, bclk_div, adc_osr, dac_osr = (
            _CLOCKS[rate])
        self.check_id()
        # Reset everything, then power on the state machine (REG00 bit 7).
        self.write(0x00, 0x1F)
        self._sleep_ms(20)
        self.write(0x00, 0x00)
        self.write(0x00, 0x80)
        # Clock manager: all clocks on, MCLK from the BCLK pin (no MCLK from the ESP32 port).
        self.write(0x01, 0x3F | 0x80)
        self.write(0x06, self.read(0x06) & ~0x20)  # BCLK not inverted
        self.write(0x02, (self.read(0x02) & 0x07) | ((pre_div - 1) << 5) | (mult << 3))
        self.write(0x03, (fs_mode << 6) | adc_osr)
        self.write(0x04, dac_osr)
        self.write(0x05, ((adc_div - 1) << 4) | (dac_div - 1))
        self.write(0x06, (self.read(0x06) & 0xE0) | (bclk_div - 1))
        self.write(0x07, (self.read(0x07) & 0xC0) | lrck_h)
        self.write(0x08, lrck_l)
        # Serial port: slave (REG00 bit 6 clear), I2S format, 16-bit in and out.
        self.write(0x00, self.read(0x00) & 0xBF)
        self.write(0x09, 3 << 2)
        self.write(0x0A, 3 << 2)
        # Analog power-up, ADC modulator and PGA, DAC power, HP driver output, ADC DC-offset
        # cancel with EQ bypassed, DAC ramp rate with EQ bypassed.
        self.write(0x0D, 0x01)
        self.write(0x0E, 0x02)
        self.write(0x12, 0x00)
        self.write(0x13, 0x10)
        self.write(0x1C, 0x6A)
        self.write(0x37, 0x48)
        self.set_volume_db(volume_db)

    def set_volume_db(self, db):
        """DAC digital volume: REG32 = 0xBF + 2 x dB (0.5 dB steps, -95.5 .. +32 dB)."""
        code = 0xBF + int(db * 2)
        self.write(0x32, 0 if code < 0 else (0xFF if code > 0xFF else code))
