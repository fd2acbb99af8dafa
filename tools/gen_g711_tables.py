"""Print the G.711 tables that lib/audio/g711_tables.py holds as literals.

Run `python3 tools/gen_g711_tables.py` and paste its output over the table block if the
tables ever need regenerating. The tests check every entry against an independent reference
(CPython's audioop), so an edited entry fails `make test`.

The expansions follow ITU-T G.711: each code is sign, 3-bit segment and 4-bit quantisation
step; A-law inverts the even bits (xor 0x55), mu-law inverts all bits and carries a bias of 0x84.
"""


def alaw_expand(code):
    code ^= 0x55
    step = (code & 0x0F) << 4
    segment = (code & 0x70) >> 4
    if segment == 0:
        step += 8
    else:
        step = (step + 0x108) << (segment - 1)
    return step if code & 0x80 else -step


def ulaw_expand(code):
    code = ~code & 0xFF
    step = (((code & 0x0F) << 3) + 0x84) << ((code & 0x70) >> 4)
    return 0x84 - step if code & 0x80 else step - 0x84


def segment_of(value):
    # Bit length of a 0..255 index: the segment search of the encoders as one table lookup.
    return value.bit_length()


def as_literal(name, data, per_line=16):
    lines = [name + " = ("]
    for start in range(0, len(data), per_line):
        chunk = "".join("\\x%02x" % b for b in data[start : start + per_line])
        lines.append('    b"' + chunk + '"')
    lines.append(")")
    return "\n".join(lines)


def int16_table(expand):
    out = bytearray()
    for code in range(256):
        out += (expand(code) & 0xFFFF).to_bytes(2, "little")
    return bytes(out)


def main():
    print(as_literal("ALAW_TO_PCM", int16_table(alaw_expand)))
    print(as_literal("ULAW_TO_PCM", int16_table(ulaw_expand)))
    print(as_literal("SEGMENT", bytes(segment_of(v) for v in range(256))))


if __name__ == "__main__":
    main()
