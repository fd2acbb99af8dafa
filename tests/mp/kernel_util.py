# Shared by tests/mp/test_kernels_*.py: seeded random inputs, buffers placed at an odd offset
# inside a larger one, and the check that a kernel module runs viper code in this tier.
#
# Each kernel has one source, viper code that is also plain Python. select(module) switches a
# module between its kernels as imported ("viper") and the same source built with the decorator
# lines blanked ("portable"), and agree() runs both on the same random inputs and compares every
# output byte; the tests also check the results against references of their own. On the unix
# port the viper build is native code, so this is where a 64-bit int, a missing mask or a wrong
# pointer offset shows up. In the WebAssembly tier the decorators are blanked already and the
# comparison is plain Python against plain Python, which checks the algorithm, not a native build.
# The text kernels (b64, jscan) still carry their own portable twins and use_kernel().
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
    """run(*args) under select("viper"), select("portable") and, where the selector has one,
    select("reference") must return equal results."""
    select("viper")
    fast = run(*args)
    select("portable")
    slow = run(*args)
    ref = slow
    if getattr(select, "reference", None) is not None:
        select("reference")
        ref = run(*args)
    select("viper")
    assert fast == slow, "%s: viper %r != portable %r" % (what, fast, slow)
    assert ref == slow, "%s: kernels %r != reference %r" % (what, slow, ref)
    return fast


# wrapper module name -> its kernel module's source (one source per kernel).
_SOURCES = {"audio.pcm": "/lib/audio/pcm_viper.py", "audio.g711": "/lib/audio/g711_viper.py",
            "websock.kernels": "/lib/websock/ws_viper.py"}
_WS_NAMES = ("mask", "utf8_error", "keystream")  # websock.kernels re-exports these
_stripped = {}


class _Built:
    # The namespace of an exec()'d source: enough of a module for kernel calls.
    def __init__(self, names):
        for key in names:
            setattr(self, key, names[key])


def stripped(wrapper):
    """The kernels of `wrapper` (e.g. audio.pcm) built from their source with the viper
    decorator lines blanked: the same code, run as bytecode (cached per module)."""
    name = wrapper.__name__
    if name not in _stripped:
        lines = []
        with open(mptest.path(_SOURCES[name])) as f:
            for line in f.read().split("\n"):
                blank = line.strip() in ("@micropython.viper", "@micropython.native")
                lines.append("" if blank else line)  # keeps the line numbers true
        names = {"__name__": name + "_stripped"}
        exec(compile("\n".join(lines), _SOURCES[name], "exec"), names)
        _stripped[name] = _Built(names)
    return _stripped[name]


class select:
    """select(wrapper[, reference])(name) switches the kernels `wrapper` calls: "viper" = its
    own, "portable" = stripped(), "reference" = a module of loops written apart from the
    kernels with their signatures (tests/mp/*_ref.py), when given; agree() runs each."""

    def __init__(self, wrapper, reference=None):
        self.wrapper = wrapper
        self.reference = reference
        self.own = getattr(wrapper, "_k", None) or _Built({n: getattr(wrapper, n)
                                                            for n in _WS_NAMES})

    def __call__(self, kernel):
        if kernel == "viper":
            src = self.own
        elif kernel == "portable":
            src = stripped(self.wrapper)
        else:
            src = self.reference
        if hasattr(self.wrapper, "_k"):
            self.wrapper._k = src
        else:
            for n in _WS_NAMES:
                setattr(self.wrapper, n, getattr(src, n))
