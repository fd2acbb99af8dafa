# Shared by tests/mp/test_kernels_*.py: seeded random inputs, buffers placed at an odd offset
# inside a larger one, and the check that a kernel module runs viper code in this tier.
#
# Each kernel has a viper version and a portable twin; these tests run both on the same random
# inputs and compare every output byte. On the unix port the viper one is native code, so this is
# where a 64-bit int, a missing mask or a wrong pointer offset in a kernel shows up. In the
# WebAssembly tier the decorators are blanked and the comparison is plain Python against plain
# Python, which still checks the kernels' algorithm but not their native build.
import random

import mptest

SEED = 20240607


def seed(salt):
    # One fixed seed per test, so a failure replays exactly whatever ran before it.
    random.seed(SEED + salt)


def rand_bytes(n):
    out = bytearray(n)
    for i in range(n):
        out[i] = random.getrandbits(8)
    return out


def rand_s16(n, extremes=True):
    # int16 LE samples; a third of them at or next to the rails, where saturation lives.
    rails = (-32768, -32767, -1, 0, 1, 32766, 32767)
    out = bytearray(2 * n)
    for i in range(n):
        if extremes and random.getrandbits(2) == 0:
            v = rails[random.getrandbits(3) % len(rails)] & 0xFFFF
        else:
            v = random.getrandbits(16)
        out[2 * i] = v & 0xFF
        out[2 * i + 1] = v >> 8
    return out


def lengths(limit):
    # Every length up to 9 (all the unrolled loops' tails), then a few random odd and even ones.
    out = list(range(10))
    for _ in range(6):
        out.append(10 + random.getrandbits(16) % (limit - 10))
    return out


def placed(data, lead):
    """data copied `lead` bytes into a larger bytearray with guard bytes after it: returns the
    backing buffer and a memoryview of exactly the data (a slice with a non-zero offset)."""
    backing = bytearray(lead + len(data) + 7)
    for i in range(len(backing)):
        backing[i] = 0xA5
    backing[lead : lead + len(data)] = data
    return backing, memoryview(backing)[lead : lead + len(data)]


def assert_viper(module, names):
    """Every named function of module was compiled by the viper emitter (skips where none)."""
    mptest.need_native()
    for name in names:
        fn = getattr(module, name)
        assert mptest.is_viper(fn), "%s.%s is not native: %r" % (module.__name__, name, type(fn))


def agree(select, what, run, *args):
    """run(*args) under select("viper") and select("portable") must return equal results."""
    select("viper")
    fast = run(*args)
    select("portable")
    slow = run(*args)
    select("viper")
    assert fast == slow, "%s: viper %r != portable %r" % (what, fast, slow)
    return fast
