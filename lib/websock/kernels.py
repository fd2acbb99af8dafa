# Byte loops of the WebSocket client: masking, UTF-8 validation and the mask-key generator.
#
# The loops are one source, the viper kernels in websock/ws_viper.py: native on the ESP32, the
# same code as plain Python in the host tiers (decorator a no-op on CPython, stripped by the
# WebAssembly runner); checked against independent references (tests/test_ws_frame.py,
# tests/mp/test_ws_frame.py).
#
# Mask keys: RFC 6455 10.3 wants keys an intermediary cannot predict. os.urandom returns a new
# bytes object per call (heap churn on every audio frame), and a 32-bit xorshift needs ints that
# MicroPython boxes as long ints outside viper. RC4 (first 3072 bytes dropped) runs on bytes and
# small ints only, so it allocates nothing in any tier, and it is seeded per connection from
# os.urandom (ESP32: the hardware RNG). Masking protects proxies from attacker-chosen byte
# patterns; it is not confidentiality (TLS provides that), so RC4's known biases do not matter.
import os

from micropython import const

from websock.ws_viper import keystream, mask, utf8_error

__all__ = ("mask", "utf8_error", "keystream", "new_rng", "random_bytes")

_DROP = const(3072)


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
