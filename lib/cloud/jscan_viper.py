# Viper kernel for cloud/jscan.py, written in the subset that is also valid plain Python (see
# b64/b64_viper.py for why). The only loop that runs over a whole audio message lives here.
import micropython

try:
    ptr8  # noqa: B018 - a viper builtin, undefined outside viper functions
except NameError:

    def ptr8(buf):
        return buf


@micropython.viper
def string_end(buf, i: int, n: int) -> int:
    # i: first byte after an opening quote. Returns the index of the closing quote, or
    # -1 - index when the string holds a backslash escape; n (or -1 - n) when unterminated.
    b = ptr8(buf)
    esc = 0
    while i < n:
        c = b[i]
        if c == 34:
            if esc:
                return -1 - i
            return i
        if c == 92:
            esc = 1
            i += 2
        else:
            i += 1
    if esc:
        return -1 - n
    return n
