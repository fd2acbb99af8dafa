"""A MicroPython board on a pseudo-terminal: tools/rawrepl/board.mjs behind /dev/pts/N.

`mpremote connect <port>` (and so `make deploy PORT=<port>`) talks to it exactly as to a USB
board: raw REPL, raw-paste, file copies, `reset`. Its flash is a host directory.

usage: python tools/rawrepl/ptyboard.py [--flash DIR]     prints the port, runs until Ctrl-C
In tests: `with PtyBoard(flash_dir) as board: ... board.port ... board.transcript()`.
"""

import argparse
import os
import select
import subprocess
import sys
import threading
import time
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
BOARD_JS = os.path.join(HERE, "board.mjs")
NODE_MODULES = os.path.join(HERE, "..", "mptest", "node_modules",
                            "@micropython", "micropython-webassembly-pyscript")


class PtyBoard:
    def __init__(self, flash_dir, node="node"):
        self.flash_dir = os.path.abspath(flash_dir)
        self.node = node
        self.port = None
        self._seen = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def __enter__(self):
        os.makedirs(self.flash_dir, exist_ok=True)
        self._master, self._slave = os.openpty()
        # Raw: no echo, no CR/LF translation; the slave stays open here so the master never
        # sees EOF between two mpremote sessions.
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._proc = subprocess.Popen([self.node, BOARD_JS, "--flash", self.flash_dir],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE)
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()
        self.wait_for(b">>> ", timeout=60)
        return self

    def _pump(self):
        out = self._proc.stdout.fileno()
        err = self._proc.stderr.fileno()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master, out, err], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    if fd == out:
                        return
                    continue
                if fd == self._master:
                    self._proc.stdin.write(data)
                    self._proc.stdin.flush()
                else:
                    # The board's console, and its own crash reports, go to the terminal.
                    os.write(self._master, data)
                    with self._lock:
                        self._seen += data

    def transcript(self):
        """Everything the board has printed so far (the console log)."""
        with self._lock:
            return bytes(self._seen)

    def wait_for(self, text, timeout=30.0, start=0):
        deadline = time.monotonic() + timeout
        while text not in self.transcript()[start:]:
            if time.monotonic() > deadline or self._proc.poll() is not None:
                raise TimeoutError("board did not print %r; last output: %r"
                                   % (text, self.transcript()[-400:]))
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._thread.join(timeout=5)
        os.close(self._master)
        os.close(self._slave)
        return False


def available():
    """Why the pty board cannot run here, or None when it can."""
    if not hasattr(os, "openpty"):
        return "no POSIX pseudo-terminals on this OS"
    if not os.path.isdir(NODE_MODULES):
        return "the MicroPython WebAssembly package is not installed (make setup)"
    from shutil import which

    if which("node") is None:
        return "node is not installed"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flash", default=os.path.join("out", "ptyboard-flash"))
    args = parser.parse_args()
    reason = available()
    if reason:
        print("ptyboard: " + reason, file=sys.stderr)
        return 1
    with PtyBoard(args.flash) as board:
        print("board on %s (flash: %s). e.g. make deploy PORT=%s   Ctrl-C stops."
              % (board.port, board.flash_dir, board.port), flush=True)
        try:
            while board._proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
