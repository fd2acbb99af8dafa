# Viper kernels for the mic front end (audio/agc.py): the statistics of one frame of 32-bit mic
# slots and its conversion to int16 with a gain, both on the 24-bit data before it is cut to 16
# bits. Written in the subset that is also plain Python (audio/pcm_viper.py's pattern): every
# intermediate stays below 2**30, so neither a 32-bit viper int nor MicroPython's small int
# (the plain-Python run in the WebAssembly tier) can overflow or allocate.
#
# Units: a slot x (24-bit data left-justified) is read as v = x >> 9 (23-bit precision, one
# bit of which is below the 24-bit data's LSB on a 24-bit mic: harmless). int16 output is
# (v * gain_q) >> 15, so gain_q 256 is x >> 16 (0 dB), 1024 is x >> 14 (+12 dB).
import micropython

try:
    ptr8  # noqa: B018 - viper builtins, undefined outside viper functions
except NameError:

    def ptr8(buf):
        return buf

    def ptr32(buf):
        return buf


@micropython.viper
def stats32(src, n: int, res) -> int:
    # res (array "i" of 2) <- [peak |v|, mean |v| >> 4]. The sum adds |v| >> 4 (19 bits), so
    # 2048 slots stay below 2**30.
    s = ptr8(src)
    r = ptr32(res)
    peak = 0
    total = 0
    i = 0
    while i < n:
        j = 4 * i
        hi = s[j + 3]
        if hi & 0x80:
            hi -= 256
        v = (hi << 15) | (s[j + 2] << 7) | (s[j + 1] >> 1)
        if v < 0:
            v = 0 - v
        if v > peak:
            peak = v
        total += v >> 4
        i += 1
    r[0] = peak
    if n > 0:
        r[1] = total // n
    else:
        r[1] = 0
    return peak


@micropython.viper
def gain32(src, dst, doff: int, n: int, gain_q: int) -> int:
    # n slots of src -> n int16 at byte offset doff of dst: (v * gain_q) >> 15, saturated.
    # |v| is clamped first to what saturates anyway, which keeps v * gain_q below 2**30.
    # gain_q 1..65535. dst may be src (int16 i is written behind slot i).
    s = ptr8(src)
    d = ptr8(dst)
    lim = 0x3FFFFFFF // gain_q
    i = 0
    while i < n:
        j = 4 * i
        hi = s[j + 3]
        if hi & 0x80:
            hi -= 256
        v = (hi << 15) | (s[j + 2] << 7) | (s[j + 1] >> 1)
        if v > lim:
            v = lim
        elif v < 0 - lim:
            v = 0 - lim
        v = (v * gain_q) >> 15
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        d[doff + 2 * i] = v & 0xFF
        d[doff + 2 * i + 1] = (v >> 8) & 0xFF
        i += 1
    return n
