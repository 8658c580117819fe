"""Work shared out by two processes (this one and a forked child) as they go, from one queue."""

from __future__ import annotations

import os
import struct

#: at most this many tasks (16 KB in the pipe: a pipe holds at least 64 KB, or 4 KB for a user past
#: the kernel's soft limit on pipe pages, when `TaskPipe.full` says so and one process does it all)
MAX_TASKS = 4096


class TaskPipe:
    """Work shared out by two processes as they go: the numbers 0 .. n-1 written into a pipe before the
    fork, each process reading the next one when it is free (a read of 4 bytes from a pipe is atomic),
    so neither waits for the other, whatever else the machine does meanwhile. `full`: all of them are
    in the pipe (written without waiting: a pipe too small for them is not waited on forever). Each
    process remembers what it took, so that the child's part (`for_child`) is whole even when the
    child failed and its part is done in the process that made the queue."""

    WORD = struct.Struct("=I")

    def __init__(self, n: int):
        self.n = n
        self.owner = os.getpid()  # (the process that made the queue, before the fork)
        self.taken: set[int] = set()  # (the tasks this process took)
        self.rfd, wfd = os.pipe()
        data = b"".join(self.WORD.pack(i) for i in range(n))
        try:
            os.set_blocking(wfd, False)
            self.full = os.write(wfd, data) == len(data) if data else True
        except BlockingIOError:
            self.full = False
        finally:
            os.close(wfd)

    def _left(self):
        while True:
            got = os.read(self.rfd, 4)
            if len(got) < 4:
                return
            yield self.WORD.unpack(got)[0]

    def __iter__(self):
        for i in self._left():
            self.taken.add(i)
            yield i

    def for_child(self):
        """The tasks of the child's part (`Kernel.split_work`'s `in_child`): in the forked child, those it
        takes from the queue; in the process that made the queue (the child failed, or there is none, as
        with the recording kernel: its part is then done here), every task this process did not take."""
        if os.getpid() != self.owner:
            return iter(self)
        return (i for i in range(self.n) if i not in self.taken)

    def drain(self) -> None:
        """Take every task left, to do none of them (a process that found something not live as made: the
        other stops)."""
        for _ in self._left():
            pass

    def close(self) -> None:
        os.close(self.rfd)
