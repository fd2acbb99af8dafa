# Viper against portable, PCM kernels (audio/pcm_viper.py): conversion, gain, channel expansion,
# energy and the streaming resampler, on seeded random inputs with odd lengths, non-zero offsets,
# memoryview slices and in-place use. Every multiplication in these kernels is bounded for a
# 32-bit viper int; the native run here checks the bounds and the sign handling hold.
import random

import kernel_util
import pcm_ref

from audio import pcm, pcm_viper

use_kernel = kernel_util.select(pcm, pcm_ref)  # see kernel_util.select
NAMES = ("s32_to_s16", "copy", "scale16", "mono_to_stereo16", "s16_to_s32", "mean_abs16",
         "resample16")
# Mic slots: 24-bit data left-justified (INMP441), raw 32-bit, or 16-bit codecs.
SHIFTS = (0, 1, 7, 8, 9, 11, 14, 16, 24, 31)
# Values (before the shift) at the int16 rails and at the +-2**20 clamp that bounds the gain.
EDGES = (0, 1, -1, 32767, 32768, -32768, -32769, 1048575, 1048576, 1048577, -1048576, -1048577)


def test_pcm_uses_the_kernel_module():
    assert pcm._k is pcm_viper


def test_pcm_kernels_are_native():
    kernel_util.assert_viper(pcm_viper, NAMES)


def _s32_to_s16(slots, n, shift, gain, soff, doff):
    backing, dst = kernel_util.placed(bytes(doff + 2 * n + 1), 1)
    wrote = pcm.s32_to_s16(kernel_util.placed(slots, 3)[1], dst, n, shift, gain, soff, doff)
    # In place: dst is the source buffer, behind the slots it reads.
    inplace = bytearray(slots)
    pcm.s32_to_s16(inplace, inplace, n, shift, gain, soff, soff)
    return wrote, bytes(backing), bytes(inplace)


def _slots(soff, n, shift):
    # Mostly values that land in int16 range after the shift (some past it, so both saturation
    # branches run), some right at the edges of the int16 and gain clamps, a few raw 32-bit
    # words; every low byte counts when the shift is small.
    out = kernel_util.rand_bytes(soff + 4 * n + 2)
    bits = min(31, 17 + shift)
    for i in range(n):
        pick = random.getrandbits(3)
        if pick == 0:
            continue
        v = random.getrandbits(bits) - (1 << (bits - 1))
        if pick == 1:
            v = EDGES[random.getrandbits(4) % len(EDGES)] << shift
            if not -(1 << 31) <= v < (1 << 31):
                continue
        v &= 0xFFFFFFFF
        for k in range(4):
            out[soff + 4 * i + k] = (v >> (8 * k)) & 0xFF
    return out


def test_s32_to_s16_agrees():
    kernel_util.seed(10)
    for index, n in enumerate(kernel_util.lengths(320)):
        # Every shift at least once; each with unity, the smallest, the largest and a random gain.
        shift = SHIFTS[index % len(SHIFTS)]
        for gain in (256, 1, 1024, 1 + random.getrandbits(10)):
            soff = random.getrandbits(3)
            doff = random.getrandbits(2)
            slots = _slots(soff, n, shift)
            what = "s32_to_s16 n=%d shift=%d gain=%d" % (n, shift, gain)
            kernel_util.agree(use_kernel, what, _s32_to_s16, slots, n, shift, gain, soff,
                              doff)


def _copy(src, n, soff, doff):
    backing, dst = kernel_util.placed(bytes(doff + n + 2), 2)
    return pcm.copy(dst, doff, kernel_util.placed(src, 1)[1], soff, n), bytes(backing)


def test_copy_agrees():
    kernel_util.seed(11)
    for n in kernel_util.lengths(700):
        soff = random.getrandbits(3)
        src = kernel_util.rand_bytes(soff + n + 1)
        doff = random.getrandbits(3)
        wrote, out = kernel_util.agree(use_kernel, "copy n=%d" % n, _copy, src, n, soff, doff)
        assert out[2 + doff : 2 + doff + n] == src[soff : soff + n]


def _scale16(samples, n, gain):
    backing, buf = kernel_util.placed(samples, 1)
    return pcm.scale16(buf, n, gain), bytes(backing)


def test_scale16_agrees():
    kernel_util.seed(12)
    for n in kernel_util.lengths(320):
        samples = kernel_util.rand_s16(n + 1)
        for gain in (0, 1, 4095, 4097, 65535, random.getrandbits(16)):
            what = "scale16 n=%d gain=%d" % (n, gain)
            kernel_util.agree(use_kernel, what, _scale16, samples, n, gain)


def _expand(samples, n):
    _, src = kernel_util.placed(samples, 3)
    backing_st, stereo = kernel_util.placed(bytes(4 * n + 1), 1)
    backing_32, slots = kernel_util.placed(bytes(4 * n + 1), 2)
    out = [pcm.mono_to_stereo16(src, stereo, n), pcm.s16_to_s32(src, slots, n)]
    # In place: both run backwards so the mono samples at the front are read before overwritten.
    for fn in (pcm.mono_to_stereo16, pcm.s16_to_s32):
        buf = bytearray(4 * n)
        buf[: 2 * n] = samples[: 2 * n]
        fn(buf, buf, n)
        out.append(bytes(buf))
    return out + [bytes(backing_st), bytes(backing_32), pcm.mean_abs16(src, n)]


def test_expand_and_energy_agree():
    kernel_util.seed(13)
    for n in kernel_util.lengths(320):
        samples = kernel_util.rand_s16(n + 1)
        kernel_util.agree(use_kernel, "expand n=%d" % n, _expand, samples, n)
    # The largest energy a frame can have: every sample at -32768.
    rail = b"\x00\x80" * 960
    assert kernel_util.agree(use_kernel, "rail", pcm.mean_abs16, rail, 960) == 32768


def _resample(audio, blocks, in_rate, out_rate):
    resampler = pcm.Resampler(in_rate, out_rate)
    out = []
    pos = 0
    for size in blocks:
        src = kernel_util.placed(audio[2 * pos : 2 * (pos + size)], 1 + (size & 1))[1]
        dst = bytearray(2 * resampler.max_out(size))
        wrote = resampler.process(src, size, dst)
        out.append(bytes(dst[: 2 * wrote]))
        out.append(bytes(resampler._state))
        pos += size
    return out


def test_resampler_agrees_across_blocks():
    kernel_util.seed(14)
    rates = ((24000, 16000), (16000, 24000), (8000, 16000), (44100, 16000), (48000, 44100),
             (16000, 16000))
    for in_rate, out_rate in rates:
        blocks = [random.getrandbits(9) % 500 for _ in range(12)] + [0, 1, 1, 2]
        audio = kernel_util.rand_s16(sum(blocks))
        what = "resample %d->%d" % (in_rate, out_rate)
        kernel_util.agree(use_kernel, what, _resample, audio, blocks, in_rate, out_rate)
