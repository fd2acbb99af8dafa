"""tools/flash.py without a board.

(a) A stand-in esptool ($ESPTOOL) records every invocation: the exact erase + write commands,
    the chip's offset, and that nothing runs when the image is for the wrong chip.
(b) The real pinned esptool 5 parses the same commands: aimed at a port that does not exist it
    must fail to open the port, not with a usage error (so the CLI spelling is right).
"""

import json
import os
import struct
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "flash.py")
ESPTOOL = os.path.join(os.path.dirname(sys.executable), "esptool")

FAKE = """#!%s
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


def image(path, chip_id):
    # A minimal esp_image_header_t: magic, segment count, flash mode/size, entry, extended header.
    head = bytes([0xE9, 3, 2, 0x20]) + struct.pack("<I", 0x40080000)
    head += bytes([0xEE, 0, 0, 0]) + struct.pack("<H", chip_id) + bytes(10)
    path.write_bytes(head + bytes(1024))
    return str(path)


@pytest.fixture
def fake(tmp_path):
    script = tmp_path / "esptool"
    script.write_text(FAKE % sys.executable)
    script.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    env = dict(os.environ, ESPTOOL=str(script), FAKE_LOG=str(log))

    def run(*args, exit_code=0):
        env["FAKE_EXIT"] = str(exit_code)
        proc = subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True,
                              env=env, timeout=60)
        calls = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
        log.unlink(missing_ok=True)
        return proc, calls

    return run


def test_esp32s3_erases_then_writes_at_0(fake, tmp_path):
    fw = image(tmp_path / "ESP32_GENERIC_S3-SPIRAM_OCT-v1.24.1.bin", 9)
    proc, calls = fake("--port", "/dev/ttyACM0", "--firmware", fw, "--chip", "esp32s3")
    assert proc.returncode == 0, proc.stderr
    assert calls == [
        ["--chip", "esp32s3", "--port", "/dev/ttyACM0", "erase-flash"],
        ["--chip", "esp32s3", "--port", "/dev/ttyACM0", "--baud", "460800", "write-flash",
         "0x0", fw],
    ]


def test_esp32_writes_at_0x1000_and_chip_comes_from_board(fake, tmp_path):
    fw = image(tmp_path / "ESP32_GENERIC-v1.24.1.bin", 0)
    proc, calls = fake("--port", "/dev/ttyUSB0", "--firmware", fw, "--board", "esp32_inmp441",
                       "--baud", "115200")
    assert proc.returncode == 0, proc.stderr
    assert calls[-1] == ["--chip", "esp32", "--port", "/dev/ttyUSB0", "--baud", "115200",
                         "write-flash", "0x1000", fw]
    assert calls[0][-1] == "erase-flash"


def test_wrong_chip_image_stops_before_erasing(fake, tmp_path):
    fw = image(tmp_path / "ESP32_GENERIC-v1.24.1.bin", 0)
    proc, calls = fake("--port", "/dev/ttyACM0", "--firmware", fw, "--chip", "esp32s3")
    assert proc.returncode == 2 and calls == []
    assert "built for esp32, but the target is esp32s3" in proc.stderr


def test_not_an_image_and_missing_arguments(fake, tmp_path):
    bogus = tmp_path / "firmware.uf2"
    bogus.write_bytes(b"UF2\n" + bytes(100))
    proc, calls = fake("--port", "/dev/ttyACM0", "--firmware", str(bogus), "--chip", "esp32s3")
    assert proc.returncode == 2 and calls == [] and "not an ESP firmware image" in proc.stderr
    proc, calls = fake("--firmware", str(bogus), "--chip", "esp32s3")
    assert proc.returncode == 2 and "PORT is missing" in proc.stderr
    proc, calls = fake("--port", "/dev/ttyACM0", "--firmware", str(bogus))
    assert proc.returncode == 2 and "CHIP=esp32" in proc.stderr
    proc, calls = fake("--port", "p", "--firmware", str(bogus), "--board", "rp2040_x")
    assert proc.returncode == 2 and "cannot tell the chip" in proc.stderr


def test_esptool_failure_is_reported_with_a_hint(fake, tmp_path):
    fw = image(tmp_path / "s3.bin", 9)
    proc, calls = fake("--port", "/dev/ttyACM0", "--firmware", fw, "--chip", "esp32s3",
                       exit_code=2)
    assert proc.returncode == 2
    assert len(calls) == 1  # stopped after the failed erase
    assert "hold BOOT" in proc.stderr


@pytest.mark.skipif(not os.path.exists(ESPTOOL), reason="pinned esptool not installed (.venv)")
@pytest.mark.parametrize("chip,chip_id", [("esp32", 0), ("esp32s3", 9)])
def test_real_esptool_accepts_the_commands(tmp_path, chip, chip_id):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import flash
    finally:
        sys.path.pop(0)
    fw = image(tmp_path / "fw.bin", chip_id)
    port = str(tmp_path / "no-such-port")
    for cmd in flash.commands(port, fw, chip):
        cmd[0] = ESPTOOL
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        out = proc.stdout + proc.stderr
        assert "Could not open" in out, out
        assert "Usage:" not in out and "No such command" not in out, out


def test_chip_from_board_name_matches_each_board_module():
    import importlib

    import config

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import flash
    finally:
        sys.path.pop(0)
    for name in config.known_boards():
        try:
            module = importlib.import_module("boards." + name)
        except ImportError as exc:
            pytest.skip("boards.%s does not import on CPython: %s" % (name, exc))
        assert flash.chip_for_board(name) == module.CHIP, name
