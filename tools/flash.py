"""`make flash`: erase the chip and write a stock MicroPython firmware .bin with esptool.

usage: python tools/flash.py --port PORT --firmware FILE.bin [--chip esp32|esp32s3 | --board B]
The offset is the chip's: the ESP32 ROM loads its second-stage bootloader from 0x1000, the
ESP32-S3 ROM from 0x0, and micropython.org's .bin files start with that bootloader (see the
"Flashing" section of https://micropython.org/download/ESP32_GENERIC/ and .../ESP32_GENERIC_S3/).
The .bin's image header names the chip it was built for; a mismatch stops before anything is
erased. Tools: esptool 5 (pinned in requirements.txt), overridable with $ESPTOOL.
"""

import argparse
import os
import shlex
import subprocess
import sys

OFFSETS = {"esp32": 0x1000, "esp32s3": 0x0}
# esp_image_header_t: magic 0xE9 at byte 0; the extended header's chip_id (u16 LE) at byte 12.
_IMAGE_MAGIC = 0xE9
CHIP_IDS = {0x0000: "esp32", 0x0009: "esp32s3", 0x0002: "esp32s2", 0x0005: "esp32c3"}
DEFAULT_BAUD = 460800


class FlashError(Exception):
    pass


def tool(name, env_var):
    """The pinned tool next to this Python (the venv), unless $ENV_VAR names another."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    local = os.path.join(os.path.dirname(sys.executable), name)
    return local if os.path.exists(local) else name


def chip_for_board(board):
    # Board modules are named <chip>_<parts>, e.g. esp32s3_inmp441 or esp32_inmp441.
    chip = board.split("_", 1)[0]
    if chip not in OFFSETS:
        raise FlashError("board %r: cannot tell the chip from its name; pass CHIP=esp32 or"
                         " CHIP=esp32s3" % board)
    return chip


def image_chip(path):
    """The chip a firmware image was built for, from its header; raises FlashError if not one."""
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) < 16 or head[0] != _IMAGE_MAGIC:
        raise FlashError("%s is not an ESP firmware image (no 0xE9 header): download the .bin"
                         " (not .uf2/.app-bin) from micropython.org/download" % path)
    chip_id = head[12] | head[13] << 8
    return CHIP_IDS.get(chip_id, "chip id %d" % chip_id)


def commands(port, firmware, chip, baud=DEFAULT_BAUD, erase=True):
    esptool = tool("esptool", "ESPTOOL")
    cmds = []
    if erase:
        cmds.append([esptool, "--chip", chip, "--port", port, "erase-flash"])
    cmds.append([esptool, "--chip", chip, "--port", port, "--baud", str(baud), "write-flash",
                 "0x%x" % OFFSETS[chip], firmware])
    return cmds


def plan(args):
    if not args.port:
        raise FlashError("PORT is missing: e.g. make flash PORT=/dev/ttyUSB0 FIRMWARE=..."
                         " (list ports with: .venv/bin/mpremote devs)")
    if not args.firmware:
        raise FlashError("FIRMWARE is missing: download a .bin for your chip from"
                         " micropython.org/download (see README.md)")
    if not os.path.isfile(args.firmware):
        raise FlashError("FIRMWARE %s: no such file" % args.firmware)
    if args.chip:
        chip = args.chip
    elif args.board:
        chip = chip_for_board(args.board)
    else:
        raise FlashError("say which chip: CHIP=esp32 or CHIP=esp32s3 (or BOARD=<board>)")
    built_for = image_chip(args.firmware)
    if built_for != chip:
        raise FlashError("%s is built for %s, but the target is %s: download the %s firmware"
                         " (ESP32_GENERIC%s)" % (args.firmware, built_for, chip, chip,
                                                 "_S3" if chip == "esp32s3" else ""))
    return commands(args.port, args.firmware, chip, args.baud, not args.no_erase)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port")
    parser.add_argument("--firmware")
    parser.add_argument("--chip", choices=sorted(OFFSETS))
    parser.add_argument("--board", help="derive the chip from a board name")
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD)
    parser.add_argument("--no-erase", action="store_true", help="skip erase-flash")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = parser.parse_args(argv)
    try:
        cmds = plan(args)
    except FlashError as exc:
        print("flash: %s" % exc, file=sys.stderr)
        return 2
    for cmd in cmds:
        print("$ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
        if args.dry_run:
            continue
        code = subprocess.call(cmd)
        if code != 0:
            print("flash: esptool failed (exit %d). If it could not connect: hold BOOT, tap"
                  " RESET (EN), release BOOT, and run again; try --baud 115200 if writing"
                  " stops partway." % code, file=sys.stderr)
            return code
    if not args.dry_run:
        print("flashed. Next: make configure && make deploy PORT=%s BOARD=<board>" % args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
