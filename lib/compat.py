# The I2S streams of the audio path, the one runtime difference the device code needs wrapped:
# the mic is read with `await reader.readinto(buf)`, the speaker written with `writer.write(buf)`
# + `await writer.drain()`, asyncio.StreamReader/StreamWriter over machine.I2S.
# On the host, tools/hostcompat.py stands in for this module (and adds the MicroPython APIs
# CPython lacks); nothing host-only ships.
import asyncio


def stream_reader(i2s):
    """An object with `async readinto(buf)` for an I2S RX bus."""
    return asyncio.StreamReader(i2s)


def stream_writer(i2s):
    """An object with `write(buf)` and `async drain()` for an I2S TX bus."""
    # machine.I2S only switches to its non-blocking "asyncio" mode when it is first polled. A
    # StreamWriter whose writes always fit never polls, so every write would block the whole
    # event loop until the DMA has room. One zero-timeout poll switches the mode up front.
    # (StreamReader.readinto always polls before reading, so the mic needs no such step.)
    import select

    poller = select.poll()
    poller.register(i2s, select.POLLOUT)
    poller.poll(0)
    return asyncio.StreamWriter(i2s, {})
