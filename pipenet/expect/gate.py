"""One gate per probed server port: who may probe it at the same time, and its temporary listener.

Probes of the same port share it, and share the temporary listener the
first of them opens (when nothing listens there), which closes when the last
one is done. A probe that checks `as ADDR` reads the server's table of
established connections for that port, so it runs alone: no other probe's
connection can then be mistaken for its own. Waiting probes are let in in
file order.
"""

from __future__ import annotations

import asyncio
import errno
from collections import deque


class PortGate:
    def __init__(self, open_listener):
        self.open_listener = open_listener  # () -> Listener | None; may raise OSError
        self.active = 0
        self.alone = False
        self.waiting: deque = deque()
        self.listener = None
        self.problem: str | None = None

    def _fits(self, alone: bool) -> bool:
        return not self.alone and (not alone or self.active == 0)

    def _take(self, alone: bool) -> None:
        if self.active == 0:
            self._open()
        self.active += 1
        self.alone = alone

    def _open(self) -> None:
        self.problem = None
        try:
            self.listener = self.open_listener()
        except OSError as e:
            self.listener = None
            if e.errno != errno.EADDRINUSE:  # in use: the application has just bound it
                self.problem = e.strerror or str(e)

    async def enter(self, alone: bool) -> None:
        if not self.waiting and self._fits(alone):
            self._take(alone)
            return
        fut = asyncio.get_running_loop().create_future()
        self.waiting.append((alone, fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():  # let in, then cancelled before it ran
                self.leave()
            raise

    def leave(self) -> None:
        self.active -= 1
        self.alone = False
        while self.waiting and self._fits(self.waiting[0][0]):
            alone, fut = self.waiting.popleft()
            if fut.done():  # cancelled while waiting
                continue
            self._take(alone)
            fut.set_result(None)
        if self.active == 0:
            self.close()

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
