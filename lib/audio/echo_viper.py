# Viper kernels for audio/echo.py: the per-frame envelope math over the reference's slot ring and
# the per-lag echo return estimates, in the subset that is also plain Python (audio/pcm_viper.py's
# pattern). All arrays are array("i"); every value stays below 2**30 (levels < 2**19, ratios
# clamped to 2**14), so no int overflows in viper or allocates in plain MicroPython.
import micropython

try:
    ptr32  # noqa: B018 - a viper builtin, undefined outside viper functions
except NameError:

    def ptr32(buf):
        return buf


@micropython.viper
def spans(slots, cur: int, out, nlags: int, width: int, decay_q8: int) -> int:
    # out[k] <- the mean of `width` slots ending k slots before slot `cur` (a 32-slot ring):
    # the reference a mic frame would hear if the echo came k slots late; or out[k]'s previous
    # value times decay_q8 / 256 if that is louder (the room's tail). Returns the max.
    s = ptr32(slots)
    o = ptr32(out)
    top = 0
    k = 0
    while k < nlags:
        total = 0
        j = 0
        while j < width:
            total += s[(cur - k - j) & 31]
            j += 1
        v = total // width
        m = (o[k] * decay_q8) >> 8
        if v > m:
            m = v
        o[k] = m
        if m > top:
            top = m
        k += 1
    return top


@micropython.viper
def tightest(erls, nlags: int) -> int:
    # The lag whose echo return is smallest: the best-aligned one (a misaligned lag must
    # cover echo its reference was quiet for, so its upper envelope sits higher).
    e = ptr32(erls)
    best = 0
    k = 1
    while k < nlags:
        if e[k] < e[best]:
            best = k
        k += 1
    return best


@micropython.viper
def learn(erls, sp, nlags: int, num: int, floor: int, lo: int, hi: int, first: int) -> int:
    # Each lag's echo return (Q8) from this frame: ratio = num / span, clamped to lo..hi.
    # first: keep the largest ratio (the learning frames). Else the upper envelope: up by a
    # quarter of the way when within 3.5 dB, by 1/128 past that, down by 1/1024.
    e = ptr32(erls)
    s = ptr32(sp)
    k = 0
    while k < nlags:
        r = s[k]
        if r > floor:
            ratio = num // r
            if ratio > hi:
                ratio = hi
            elif ratio < lo:
                ratio = lo
            v = e[k]
            if first:
                if ratio > v:
                    v = ratio
            elif ratio > v + (v >> 1):
                v += (ratio - v + 127) >> 7
            elif ratio > v:
                v += (ratio - v + 3) >> 2
            else:
                v -= (v - ratio + 1023) >> 10
            if v > hi:
                v = hi
            elif v < lo:
                v = lo
            e[k] = v
        k += 1
    return nlags
