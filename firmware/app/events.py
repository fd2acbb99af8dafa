# The bounded event queue between handlers (button, network, timers, cloud) and the one task
# that runs the state machine.
#
# Handlers call post() (never blocks, never awaits); the consumer awaits get(). The ring is
# allocated once. If it is ever full the oldest event is dropped and counted, which the consumer
# logs: a stuck consumer must not grow memory without bound.
import asyncio

from micropython import const

_SIZE = const(16)


class EventQueue:
    def __init__(self, size=_SIZE):
        self._events = [0] * size
        self._args = [None] * size
        self._head = 0  # next to read
        self._count = 0
        self.dropped = 0
        self._ready = asyncio.Event()

    def __len__(self):
        return self._count

    def post(self, event, arg=None):
        size = len(self._events)
        if self._count == size:
            self._head = (self._head + 1) % size
            self._count -= 1
            self.dropped += 1
        tail = (self._head + self._count) % size
        self._events[tail] = event
        self._args[tail] = arg
        self._count += 1
        self._ready.set()

    def get_nowait(self):
        """(event, arg), or None when empty."""
        if not self._count:
            return None
        i = self._head
        item = (self._events[i], self._args[i])
        self._args[i] = None
        self._head = (i + 1) % len(self._events)
        self._count -= 1
        return item

    async def get(self):
        while not self._count:
            self._ready.clear()
            await self._ready.wait()
        return self.get_nowait()
