# Host side of over-the-air updates: serve.py (a static HTTPS server for a release folder, with
# fault switches) and device.py (one boot of a board's filesystem, under MicroPython or CPython),
# which the OTA fault table (tests/test_ota_faults.py) drives. Releases: tools/release.py.
