# Reference WebSocket loops for tests/mp/test_kernels_viper.py and test_ws_frame.py, written
# apart from the kernels (lib/websock/ws_viper.py) with their signatures: kernel_util.agree() runs
# them as a third build beside the native and the stripped one. They were the kernels' portable
# twin in lib/ until the kernels became one source.


def mask(buf, start, n, key, koff):
    k0 = key[koff]
    k1 = key[koff + 1]
    k2 = key[koff + 2]
    k3 = key[koff + 3]
    i = start
    quads = start + n - (n & 3)
    while i < quads:
        buf[i] ^= k0
        buf[i + 1] ^= k1
        buf[i + 2] ^= k2
        buf[i + 3] ^= k3
        i += 4
    j = koff
    while i < start + n:
        buf[i] ^= key[j]
        i += 1
        j += 1


def utf8_error(buf, start, n):
    i = start
    end = start + n
    while i < end:
        c = buf[i]
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2 or c > 0xF4:
            return i - start
        need = 1 if c < 0xE0 else (2 if c < 0xF0 else 3)
        lo = 0xA0 if c == 0xE0 else (0x90 if c == 0xF0 else 0x80)
        hi = 0x9F if c == 0xED else (0x8F if c == 0xF4 else 0xBF)
        if i + need >= end or not lo <= buf[i + 1] <= hi:
            return i - start
        for k in range(2, need + 1):
            if buf[i + k] & 0xC0 != 0x80:
                return i - start
        i += need + 1
    return -1


def keystream(state, out, off, n):
    i = state[256]
    j = state[257]
    for k in range(n):
        i = (i + 1) & 0xFF
        si = state[i]
        j = (j + si) & 0xFF
        sj = state[j]
        state[i] = sj
        state[j] = si
        out[off + k] = state[(si + sj) & 0xFF]
    state[256] = i
    state[257] = j
