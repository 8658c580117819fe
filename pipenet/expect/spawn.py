"""Start a helper process inside a node so that it cannot outlive `pipenet test`.

The child asks the kernel for SIGKILL when its parent dies
(prctl(PR_SET_PDEATHSIG)), then checks that the parent did not die before
the request was made (the parent's pid was taken before the fork), then
enters the node. So SIGKILL, SIGTERM or Ctrl-C of `pipenet test` takes its
helpers along, with no cleanup code that would have to run.

The signal is sent when the *thread* that forked the child ends, so helpers
are started from the thread running the event loop, which outlives them.
"""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def die_with_parent(parent: int) -> None:
    """In the child, after fork: be killed when the parent goes; exit now if it has already gone."""
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        os._exit(70)
    if os.getppid() != parent:
        os._exit(70)


def preexec(then=None):
    """A preexec_fn for subprocess: die with this process, then `then()` (entering the node)."""
    parent = os.getpid()

    def child() -> None:
        die_with_parent(parent)
        if then is not None:
            then()

    return child
