# The harness itself, in both MicroPython tiers: files are found through mptest.path(), alloc()
# measures real heap bytes (so "allocates nothing" assertions mean something on the 64-bit unix
# port too), and is_viper() tells native kernels from bytecode and from built-ins.
import os

import mptest


def _nothing():
    pass


def test_tier_and_paths():
    assert mptest.TIER in ("unix", "webassembly"), mptest.TIER
    with open(mptest.path("/tests/data/good_config.json")) as f:
        assert f.read(1) == "{"
    if mptest.SHARED is not None:
        assert mptest.SHARED == mptest.path("/shared")
        assert os.listdir(mptest.path("/shared/fixtures"))


def test_alloc_counts_heap_bytes():
    assert mptest.alloc(_nothing) == 0
    # 1000 bytes of data plus the object header and the allocator's rounding, whatever the
    # pointer size.
    got = mptest.alloc(bytearray, 1000)
    assert 1000 <= got <= 1100, got


def test_is_viper_tells_kernels_apart():
    for fn in (_nothing, len, lambda: 0, mptest.alloc):
        assert not mptest.is_viper(fn), fn
    # The harness compiles one viper function of its own; only the unix port makes it native.
    assert mptest.is_viper(mptest._viper) == (mptest.TIER == "unix")
