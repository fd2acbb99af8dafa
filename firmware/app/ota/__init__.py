# Over-the-air update client. Imported only while an update check runs (firmware/otaboot.py
# calls check.run() at boot and drops these modules after it), never on the app's normal path.
# check.py runs it; manifest.py reads the signed manifest, ed25519.py checks its signature,
# https.py fetches, stage.py fills the staging slot, slots.py is the flash side and the switch.


class OtaError(Exception):
    """The update cannot go on; str(err) is one line: what went wrong and what to do."""


class Dropped(OtaError):
    """The network failed (connect, TLS without a certificate problem, timeout, a cut): a retry
    may help, unlike a wrong hash or signature."""


class Done(Exception):
    """Nothing to install (up to date, on trial, ...); str(err) says why."""
