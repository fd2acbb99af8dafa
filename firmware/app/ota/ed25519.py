# Ed25519 signature check (RFC 8032 5.1.7), verify only, in plain Python for MicroPython.
#
# Why Ed25519 and not an HMAC: the board then holds only the public key, so reading one board's
# flash (no flash encryption on a stock MicroPython board) gives nothing that can sign a release
# for the others; an HMAC key on every board would. Stock MicroPython has no public-key code and
# no SHA-512, so both are here. Cost, measured (tests/mp/test_ota.py benches it): ~4 KB as .mpy
# for xtensawin, imported only during an update; one verify is ~12 ms on the unix port and ~41 ms
# on the 32-bit WebAssembly port (estimate for a 240 MHz ESP32: 1-2 s), and it runs only when a
# newer version is offered. The message signed is short (a domain tag and the manifest's SHA-256,
# see manifest.py), so the SHA-512 below hashes one block.
#
# Not constant-time: verification handles only public data.
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
_SQRTM1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
_M = 0xFFFFFFFFFFFFFFFF
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960

# SHA-512 round constants (FIPS 180-4 4.2.3).
_K = (
    0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc,
    0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118,
    0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694,
    0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
    0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
    0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70,
    0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
    0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
    0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30,
    0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
    0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b,
    0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178,
    0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
    0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
)


def _r(x, n):
    # 64-bit rotate right (64-bit words are small ints on the unix port, bignums on the ESP32).
    return ((x >> n) | (x << (64 - n))) & _M


def sha512(msg):
    """SHA-512 of `msg` (FIPS 180-4): hashlib on MicroPython has sha256 and sha1 only."""
    h = [0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
         0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179]
    n = len(msg)
    msg = bytes(msg) + b"\x80" + bytes((111 - n) % 128) + (n * 8).to_bytes(16, "big")
    for o in range(0, len(msg), 128):
        w = [int.from_bytes(msg[o + i:o + i + 8], "big") for i in range(0, 128, 8)]
        for i in range(16, 80):
            a, b = w[i - 15], w[i - 2]
            w.append((w[i - 16] + (_r(a, 1) ^ _r(a, 8) ^ (a >> 7)) + w[i - 7]
                      + (_r(b, 19) ^ _r(b, 61) ^ (b >> 6))) & _M)
        a, b, c, d, e, f, g, k = h
        for i in range(80):
            # (e ^ _M) is ~e kept non-negative: no negative bignums on the device.
            ch = (e & f) ^ ((e ^ _M) & g)
            t = (k + (_r(e, 14) ^ _r(e, 18) ^ _r(e, 41)) + ch + _K[i] + w[i]) & _M
            u = ((_r(a, 28) ^ _r(a, 34) ^ _r(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))) & _M
            k, g, f, e, d, c, b, a = g, f, e, (d + t) & _M, c, b, a, (t + u) & _M
        h = [(x + y) & _M for x, y in zip(h, (a, b, c, d, e, f, g, k))]
    return b"".join(x.to_bytes(8, "big") for x in h)


def _add(p, q):
    # Extended coordinates, a = -1 (add-2008-hwcd-3).
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _double(p):
    x1, y1, z1, _ = p
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return e * f % _P, g * h % _P, f * g % _P, e * h % _P


def _decode(s):
    # A point from its 32-byte encoding (RFC 8032 5.1.3), or None when it is not one.
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    vx2 = v * x * x % _P
    if vx2 == (-u) % _P:
        x = x * _SQRTM1 % _P
    elif vx2 != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


def _encode(p):
    x, y, z, _ = p
    zi = pow(z, _P - 2, _P)
    x, y = x * zi % _P, y * zi % _P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def verify(public, msg, sig):
    """True when `sig` (64 bytes) is `public`'s (32 bytes) Ed25519 signature of `msg`."""
    if len(public) != 32 or len(sig) != 64:
        return False
    a = _decode(public)
    r = _decode(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    k = int.from_bytes(sha512(bytes(sig[:32]) + bytes(public) + bytes(msg)), "little") % _L
    # [s]B - [k]A by one shared double-and-add (Straus): 253 doublings, not 506; s, k < 2**253.
    na = (_P - a[0], a[1], 1, (_P - a[3]) % _P)
    b = (_BX, _BY, 1, _BX * _BY % _P)
    both = _add(b, na)
    q = (0, 1, 1, 0)
    for i in range(252, -1, -1):
        q = _double(q)
        bs, bk = (s >> i) & 1, (k >> i) & 1
        if bs and bk:
            q = _add(q, both)
        elif bs:
            q = _add(q, b)
        elif bk:
            q = _add(q, na)
    return _encode(q) == bytes(sig[:32])
