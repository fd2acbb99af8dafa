"""A `machine.I2C` stand-in with the ESP32 port's signature, and register-file devices on it.

    I2C = make_i2c(devices={0x18: RegisterDevice(ES8311_RESET)})
    bus = I2C(0, scl=Pin(2), sda=Pin(1), freq=400000)

What is modelled, from MicroPython's ports/esp32/machine_i2c.c and extmod/machine_i2c.c:
- the constructor: id 0..1 (a hardware bus), keyword-only scl/sda/freq/timeout, TypeError on
  unknown keywords, ValueError on a bad id;
- memory transfers (readfrom_mem_into / readfrom_mem / writeto_mem, 8-bit register addresses),
  plain transfers (writeto / readfrom_into / readfrom) and scan();
- an address nobody answers raises OSError(ENODEV), as the port does (errno 19).
A device is a register file; every write is kept as (register, value) in `writes`, so a test can
compare an init sequence register by register.
"""

import errno

_KWARGS = ("scl", "sda", "freq", "timeout")

# ES8311 power-on register values the drivers read back (Everest ES8311 datasheet, register map:
# 0x00 reset/clock manager, 0x01 clock, 0xFD/0xFE chip id 0x83 0x11).
ES8311_RESET = {0x00: 0x1F, 0x01: 0x00, 0x02: 0x00, 0x06: 0x03, 0x07: 0x00, 0xFD: 0x83,
                0xFE: 0x11}


class RegisterDevice:
    """A chip with 256 8-bit registers behind a register-address pointer."""

    def __init__(self, reset=None):
        self.regs = bytearray(256)
        for reg, value in (reset or {}).items():
            self.regs[reg] = value
        self.writes = []
        self._pointer = 0

    def write(self, reg, data):
        for i, value in enumerate(data):
            self.regs[(reg + i) & 0xFF] = value
            self.writes.append(((reg + i) & 0xFF, value))
        self._pointer = (reg + len(data)) & 0xFF

    def read(self, reg, n):
        out = bytes(self.regs[(reg + i) & 0xFF] for i in range(n))
        self._pointer = (reg + n) & 0xFF
        return out


class _I2CBase:
    devices = {}

    def __init__(self, id, **kwargs):
        unknown = [k for k in kwargs if k not in _KWARGS]
        if unknown:
            raise TypeError("unexpected keyword argument '%s'" % unknown[0])
        if id not in (0, 1):
            raise ValueError("I2C(%r) doesn't exist" % (id,))
        for name in ("scl", "sda"):
            if name not in kwargs:
                raise TypeError("'%s' argument required" % name)
        self.id = id
        self.freq = kwargs.get("freq", 400000)
        self.timeout = kwargs.get("timeout", 50000)

    def _device(self, addr):
        device = self.devices.get(addr)
        if device is None:
            raise OSError(errno.ENODEV, "ENODEV")  # the port reports the errno alone
        return device

    def scan(self):
        return sorted(self.devices)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        data = self._device(addr).read(memaddr, len(buf))
        buf[: len(data)] = data

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        return self._device(addr).read(memaddr, nbytes)

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self._device(addr).write(memaddr, bytes(buf))

    def writeto(self, addr, buf, stop=True):
        data = bytes(buf)
        if data:
            self._device(addr).write(data[0], data[1:])
        else:
            self._device(addr)
        return 1

    def readfrom_into(self, addr, buf, stop=True):
        device = self._device(addr)
        buf[:] = device.read(device._pointer, len(buf))

    def readfrom(self, addr, nbytes, stop=True):
        device = self._device(addr)
        return device.read(device._pointer, nbytes)


def make_i2c(devices=None):
    """A machine.I2C class whose buses reach `devices` (address -> RegisterDevice)."""
    return type("I2C", (_I2CBase,), {"devices": {} if devices is None else devices})
