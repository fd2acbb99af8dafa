"""espeak-ng speech for tools/bench/bench_echo.py: installed on demand, cached under out/.

espeak-ng is a Debian package: when it is missing and this runs as root with apt-get, it is
installed here, as the Makefile's `browser` target installs chromium; otherwise the bench's
rows skip with one line that says how to install it. Each clip is espeak-ng's output for a
fixed text, voice and speed (so the same sentences every run), kept in out/bench_echo/speech/
under a name made of those and espeak-ng's version.
"""

import hashlib
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.path.join(ROOT, "out", "bench_echo", "speech")
_INSTALL_HINT = "sudo apt-get install espeak-ng"


def ensure_espeak():
    """(path of espeak-ng, None) or (None, why the rows skip)."""
    found = shutil.which("espeak-ng")
    if found:
        return found, None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "espeak-ng is missing and apt-get needs root here (%s)" % _INSTALL_HINT
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "espeak-ng"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return None, "%s failed (%s): %s" % (" ".join(cmd), tail, _INSTALL_HINT)
    found = shutil.which("espeak-ng")
    return (found, None) if found else (None, "espeak-ng not found after apt-get install")


def _version(binary):
    proc = subprocess.run([binary, "--version"], capture_output=True, text=True)
    return proc.stdout.strip()


def speak(binary, text, voice="en-us", speed=165, pitch=50):
    """(int16 samples, rate) of espeak-ng saying `text`, from the cache when it is there."""
    from tools.cloud.audio import read_wav

    key = "|".join((_version(binary), voice, str(speed), str(pitch), text))
    path = os.path.join(CACHE, hashlib.sha256(key.encode()).hexdigest()[:16] + ".wav")
    if not os.path.exists(path):
        os.makedirs(CACHE, exist_ok=True)
        tmp = path + ".%d.tmp" % os.getpid()
        subprocess.run([binary, "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", tmp,
                        text], check=True, capture_output=True)
        os.replace(tmp, path)
    return read_wav(path)
