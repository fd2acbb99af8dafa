# Base64 (RFC 4648, standard alphabet, padded) into caller-provided buffers, without allocating.
#
# binascii.b2a_base64 / a2b_base64 return new objects on every call; the audio path encodes a mic
# frame 50 times a second and decodes ~16 KB replies many times a second, so these write into
# buffers the caller owns and return a count. A viper kernel (b64/b64_viper.py) runs where the port
# can compile it; the portable loops below run elsewhere; both are checked against binascii.
# Decoding is strict: a byte outside the alphabet, '=' anywhere but the end, or a length that is
# not a multiple of 4 raises B64Error naming the offset. Non-zero bits under the padding are
# accepted, as every mainstream decoder does.

__all__ = ("B64Error", "encode_into", "decode_into", "encoded_len", "decoded_len", "KERNEL")

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_PAD = 61  # '='


def _reverse_table():
    table = bytearray(b"\xff" * 256)
    for i in range(64):
        table[ALPHABET[i]] = i
    return bytes(table)


# Byte value -> 6-bit value, 0xFF for anything outside the alphabet (including '=').
_REV = _reverse_table()


class B64Error(ValueError):
    def __init__(self, message, offset=-1):
        super().__init__(message)
        self.offset = offset


try:
    from b64 import b64_viper as _fast
except (ImportError, SyntaxError, ValueError):
    # A port built without the native emitter cannot compile @micropython.viper.
    _fast = None

KERNEL = "viper" if _fast is not None else "portable"


def encoded_len(n):
    return (n + 2) // 3 * 4


def _portable_encode(src, n, dst, off, table):
    i = 0
    j = off
    while i + 2 < n:
        v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2]
        dst[j] = table[v >> 18]
        dst[j + 1] = table[(v >> 12) & 63]
        dst[j + 2] = table[(v >> 6) & 63]
        dst[j + 3] = table[v & 63]
        i += 3
        j += 4
    if n - i:
        v = src[i] << 16
        if n - i == 2:
            v |= src[i + 1] << 8
        dst[j] = table[v >> 18]
        dst[j + 1] = table[(v >> 12) & 63]
        dst[j + 2] = table[(v >> 6) & 63] if n - i == 2 else _PAD
        dst[j + 3] = _PAD
        j += 4
    return j - off


def _portable_decode(src, start, end, dst, off, rev):
    i = start
    j = off
    while i < end:
        a = rev[src[i]]
        b = rev[src[i + 1]]
        c = rev[src[i + 2]]
        d = rev[src[i + 3]]
        if (a | b | c | d) & 0xC0:  # 0xFF marks a byte outside the alphabet
            return -1 - i
        v = (a << 18) | (b << 12) | (c << 6) | d
        dst[j] = v >> 16
        dst[j + 1] = (v >> 8) & 0xFF
        dst[j + 2] = v & 0xFF
        i += 4
        j += 3
    return j - off


def encode_into(src, n, dst, off=0):
    """Base64 of src[:n] into dst[off:]; returns the number of characters written."""
    if n > len(src):
        raise ValueError("b64: %d bytes requested, source holds %d" % (n, len(src)))
    need = encoded_len(n)
    if off + need > len(dst):
        raise ValueError("b64: output has %d bytes past offset, needs %d" % (len(dst) - off, need))
    if _fast is not None:
        return _fast.encode(src, n, dst, off, ALPHABET)
    return _portable_encode(src, n, dst, off, ALPHABET)


def _bad(src, quad):
    for i in range(quad, quad + 4):
        if _REV[src[i]] == 0xFF:
            break
    raise B64Error("base64: bad byte 0x%02x at offset %d" % (src[i], i), i)


def decoded_len(src, start, end):
    """Bytes that src[start:end] decodes to; checks the length and the padding's position."""
    count = end - start
    if count & 3:
        raise B64Error("base64: length %d is not a multiple of 4" % count, end)
    if count == 0:
        return 0
    pad = 0
    if src[end - 1] == _PAD:
        pad = 2 if src[end - 2] == _PAD else 1
    return count // 4 * 3 - pad


def decode_into(src, start, end, dst, off=0):
    """Decode src[start:end] (whole quads; only the final one may be padded) into dst[off:].

    Returns the number of bytes written; raises B64Error naming the offending offset.
    """
    size = decoded_len(src, start, end)
    if off + size > len(dst):
        raise ValueError("b64: output has %d bytes past offset, needs %d" % (len(dst) - off, size))
    full = end if size % 3 == 0 else end - 4
    if _fast is not None:
        done = _fast.decode(src, start, full, dst, off, _REV)
    else:
        done = _portable_decode(src, start, full, dst, off, _REV)
    if done < 0:
        _bad(src, -1 - done)
    if full == end:
        return done
    # The padded final quad: "xx==" gives one byte, "xxx=" two.
    a = _REV[src[full]]
    b = _REV[src[full + 1]]
    c = 0 if size % 3 == 1 else _REV[src[full + 2]]
    if (a | b | c) & 0xC0:
        _bad(src, full)
    j = off + done
    dst[j] = ((a << 2) | (b >> 4)) & 0xFF
    if size % 3 == 2:
        dst[j + 1] = ((b << 4) | (c >> 2)) & 0xFF
    return size


def use_kernel(name):
    """Select "viper" or "portable" kernels (tests and benchmarks compare the two)."""
    global _fast, KERNEL
    if name == "portable":
        _fast = None
    else:
        from b64 import b64_viper

        _fast = b64_viper
    KERNEL = name
