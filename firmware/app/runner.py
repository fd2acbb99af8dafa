# Builds the app from config.json and the board, and runs it; main.py calls main()/shutdown().
#
# Everything hardware-facing is created here and only here: the board's I2S and Pin objects, the
# watchdog, Wi-Fi. The simulator calls the same main() with its own config dict, log sink,
# connect function and trace hook; `import machine` then gets its virtual hardware.
import asyncio
import sys

_WDT_TIMEOUT_MS = 30000
_STABLE_AFTER_MS = 60000  # the app ran this long: the crash-loop counter starts again

_app = None
_hw = None


def _read_ca(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def make_connect(cfg, log):
    """websock.connect bound to the config's TLS settings."""
    import websock

    cadata = None
    if cfg["base_url"].startswith("wss:"):
        cadata = _read_ca(cfg["ca_file"])
        if cadata is None:
            log.warn("net", "no CA file at %s: wss:// will fail; run `make deploy` to copy it"
                     % cfg["ca_file"])

    async def connect(url, headers):
        return await websock.connect(url, headers, cadata=cadata)

    return connect


async def _forget_crashes(crash_file):
    await asyncio.sleep_ms(_STABLE_AFTER_MS)
    try:
        import os

        os.remove(crash_file)
    except OSError:
        pass


async def main(crash_file=None, cfg=None, log=None, connect=None, trace=None, watchdog=True,
               on_task_error=None, on_wifi_failed=None):
    global _app, _hw
    from app.log import Log

    if on_task_error is not None:
        # Set from inside the running loop: on CPython asyncio.run() makes a new loop.
        asyncio.get_event_loop().set_exception_handler(on_task_error)

    log = log or Log()
    import config

    try:
        cfg = config.load() if cfg is None else config.validate(cfg)
    except config.ConfigError as exc:
        log.error("config", str(exc))
        return
    log.set_level(cfg["log_level"])
    log.add_secret(cfg["token"])
    log.add_secret(cfg["wifi_password"])
    log.info("app", "config: %s" % config.redacted(cfg))
    config = None

    import machine
    import network
    import ntptime

    import boards
    from app.audio_path import AudioPath
    from app.cloud_session import make_session
    from app.controller import Controller

    session = make_session(cfg, log=lambda line: log.warn("cloud", line))
    board = boards.load(cfg["board"])
    # The speaker bus runs at the answer's own rate where the board allows (no resampling);
    # the player resamples from it otherwise. Either way the answer plays at its rate.
    _hw = board.build(machine, speaker_rate=session.out_rate)
    audio = AudioPath(board, _hw, cfg, session.audio_frame, session.out_codec, session.out_rate)
    audio.player.on_gap = _gap_reporter(log, trace)
    wdt = machine.WDT(timeout=_WDT_TIMEOUT_MS) if watchdog else None
    app = Controller(cfg, _hw, audio, log, network, ntptime, wdt,
                     connect or make_connect(cfg, log), trace, session)
    app.on_wifi_failed = on_wifi_failed  # main.py: offer setup mode after a few (app/setup)
    _app = app
    board = boards = None
    _forget_boot_modules(cfg["board"])
    if crash_file:
        asyncio.create_task(_forget_crashes(crash_file))
    await app.run()


def _forget_boot_modules(board_name):
    # Config validation and the board's wiring run once, at start-up: with nothing left that
    # refers to them, dropping them from sys.modules lets the GC take their code back (config
    # alone keeps ~9 KB on a 32-bit heap; tools/bench/bench_device.py measures it). A later
    # import (setup mode, the host's next run) loads them afresh.
    for name in ("config", "boards." + board_name, "boards"):
        sys.modules.pop(name, None)


def _gap_reporter(log, trace):
    """Silence inside a reply is heard as a crackle: say so (and tell the simulator when)."""

    def on_gap(kind, ms):
        log.debug("audio", "%d ms of silence inside the reply (%s)" % (ms, kind))
        if trace is not None:
            trace("gap", "%s %d" % (kind, ms))

    return on_gap


def current():
    return _app


def shutdown():
    """Release the hardware: stop the tasks, deinit both I2S buses (main.py's finally)."""
    global _app, _hw
    if _app is not None:
        _app.deinit()
        _app = None
    elif _hw is not None:
        for key in ("mic_i2s", "speaker_i2s"):
            if _hw.get(key) is not None:
                _hw[key].deinit()
    _hw = None
