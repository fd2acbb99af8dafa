# "Check for an update now" (the check_update device tool). The check itself runs at boot
# (check.py): there it has the whole heap and the only TLS session, while beside the running
# app it would need the app's ~125 KB of code, the cloud's TLS session and its own at once,
# which a board without PSRAM does not have. So asking restarts the board, once the spoken
# answer has played out.
import asyncio

_SPEAK_MS = 1500  # the answer starts playing before the player is watched for quiet
_WAIT_MS = 20000  # the longest wait for quiet before the restart


def later(app):
    """The tool's answer; schedules the restart when updates are configured."""
    if not app.cfg.get("ota_url"):
        return "updates are off: set ota_url in config.json (make configure), then make deploy"
    # Not owned by the controller on purpose: it ends in a reset, and a shutdown drops it with
    # the event loop (main.py starts a new one).
    asyncio.create_task(_restart(app))
    return "restarting now to check for an update; back in under a minute"


async def _restart(app):
    await asyncio.sleep_ms(_SPEAK_MS)
    player = app.audio.player if app.audio is not None else None
    if player is not None:
        try:
            await asyncio.wait_for_ms(player.idle.wait(), _WAIT_MS)
        except asyncio.TimeoutError:
            pass
    app.log.info("ota", "restarting for the update check")
    import machine

    machine.reset()
