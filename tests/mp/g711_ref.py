# Per-sample G.711 coders, the reference tests/mp/test_kernels_viper.py checks the kernels
# against (the classic reference coder, as in CPython's audioop). They lived beside the kernels
# as the portable twin until the kernels became one source; the segment here is found by a loop,
# not by the kernels' table, so a wrong table entry shows up.


def _segment(x):
    # Bit length of 0 <= x < 256.
    n = 0
    while x:
        x >>= 1
        n += 1
    return n


def alaw_code(sample):
    """One A-law code for one signed 16-bit sample."""
    x = sample >> 3
    if x >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        x = -x - 1
    segment = _segment(x >> 5)
    step = x >> 1 if segment < 2 else x >> segment
    return ((segment << 4) | (step & 0x0F)) ^ mask


def ulaw_code(sample):
    """One mu-law code for one signed 16-bit sample."""
    x = sample >> 2
    if x < 0:
        x = -x
        mask = 0x7F
    else:
        mask = 0xFF
    if x > 8159:
        x = 8159
    x += 33
    segment = _segment(x >> 6)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((x >> (segment + 1)) & 0x0F)) ^ mask
