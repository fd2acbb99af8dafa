# Viper kernels for cloud/jscan.py, written in the subset that is also valid plain Python (see
# b64/b64_viper.py for why). The loops that run over a whole message's strings live here.
import micropython

try:
    ptr8  # noqa: B018 - a viper builtin, undefined outside viper functions
except NameError:

    def ptr8(buf):
        return buf


@micropython.viper
def run_end(buf, i: int, n: int) -> int:
    # Index of the first '"' or '\' in buf[i:n], or n: where a string's plain run stops.
    b = ptr8(buf)
    while i < n:
        c = b[i]
        if c == 34 or c == 92:
            return i
        i += 1
    return n


@micropython.viper
def copy(dst, j: int, src, i: int, k: int):
    # dst[j:j+k] = src[i:i+k] without the slice objects a plain assignment would allocate.
    d = ptr8(dst)
    s = ptr8(src)
    end = i + k
    while i < end:
        d[j] = s[i]
        i += 1
        j += 1
