"""The machine.I2C stand-in: the ESP32 port's signature and errors, register-file devices."""

import errno

import pytest

from tools.vhw.i2c import ES8311_RESET, RegisterDevice, make_i2c


def bus(devices=None):
    return make_i2c(devices)(0, scl=2, sda=1, freq=400000)


def test_signature_is_checked_like_the_port():
    I2C = make_i2c()
    with pytest.raises(TypeError, match="unexpected keyword argument 'baudrate'"):
        I2C(0, scl=2, sda=1, baudrate=100000)
    with pytest.raises(ValueError, match="doesn't exist"):
        I2C(2, scl=2, sda=1)
    with pytest.raises(TypeError, match="'sda' argument required"):
        I2C(0, scl=2)


def test_absent_address_is_enodev():
    with pytest.raises(OSError) as err:
        bus().writeto_mem(0x18, 0x00, b"\x01")
    assert err.value.errno == errno.ENODEV


def test_register_reads_and_writes_are_recorded():
    codec = RegisterDevice(ES8311_RESET)
    b = bus({0x18: codec})
    assert b.scan() == [0x18]
    buf = bytearray(2)
    b.readfrom_mem_into(0x18, 0xFD, buf)
    assert bytes(buf) == b"\x83\x11"
    b.writeto_mem(0x18, 0x32, b"\xbf")
    b.writeto(0x18, b"\x14\x1a\x2b")  # register pointer, then data
    assert codec.writes == [(0x32, 0xBF), (0x14, 0x1A), (0x15, 0x2B)]
    assert b.readfrom_mem(0x18, 0x14, 2) == b"\x1a\x2b"
