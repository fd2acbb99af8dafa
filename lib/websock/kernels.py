# Byte loops of the WebSocket client: masking, UTF-8 validation and the mask-key generator.
#
# The viper kernels (websock/ws_viper.py) are used where the port can compile them; a port built
# without the native emitter falls back to the portable loops below (same algorithms). Both are
# checked against independent references (tests/test_ws_frame.py, tests/mp/test_ws_frame.py).
#
# Mask keys: RFC 6455 10.3 wants keys an intermediary cannot predict. os.urandom returns a new
# bytes object per call (heap churn on every audio frame), and a 32-bit xorshift needs ints that
# MicroPython boxes as long ints outside viper. RC4 (first 3072 bytes dropped) runs on bytes and
# small ints only, so it allocates nothing in any tier, and it is seeded per connection from
# os.urandom (ESP32: the hardware RNG). Masking protects proxies from attacker-chosen byte
# patterns; it is not confidentiality (TLS provides that), so RC4's known biases do not matter.
import os

from micropython import const

__all__ = ("mask", "utf8_error", "keystream", "new_rng", "random_bytes", "use_kernel", "KERNEL")

_DROP = const(3072)

try:
    from websock import ws_viper as _fast
except (ImportError, SyntaxError, ValueError):
    _fast = None


def _mask(buf, start, n, key, koff):
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


def _utf8_error(buf, start, n):
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


def _keystream(state, out, off, n):
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


mask = utf8_error = keystream = None
KERNEL = None


def use_kernel(name):
    """Select "viper" (default where it compiled) or "portable"; tests cover both."""
    global mask, utf8_error, keystream, KERNEL
    if name == "viper" and _fast is not None:
        mask, utf8_error, keystream = _fast.mask, _fast.utf8_error, _fast.keystream
    elif name == "portable":
        mask, utf8_error, keystream = _mask, _utf8_error, _keystream
    else:
        raise ValueError("websock: kernel %r is not available here" % name)
    KERNEL = name


use_kernel("viper" if _fast is not None else "portable")


def random_bytes(n):
    try:
        return os.urandom(n)
    except (AttributeError, NotImplementedError):
        # The WebAssembly test port has no os.urandom; its random module is seeded at start.
        import random

        return bytes(random.getrandbits(8) for _ in range(n))


def new_rng(seed=None):
    """A mask-key generator state (258 bytes), keyed with 32 random bytes unless `seed` given."""
    key = random_bytes(32) if seed is None else seed
    state = bytearray(258)
    for i in range(256):
        state[i] = i
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) & 0xFF
        state[i], state[j] = state[j], state[i]
    scratch = bytearray(256)
    for _ in range(_DROP // 256):
        keystream(state, scratch, 0, 256)
    return state
