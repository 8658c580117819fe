"""Fault points: the places where a test may make pipenet fail, or die, on purpose.

Production code marks each kernel step and each internal write with
`point(name, detail)`; nothing happens there unless a hook was installed
with `install()`, which only the test suite's wrapper (`tests/faultrun.py`,
which imports pipenet, installs a hook, then runs the command line) does.
No environment variable, file or argument reaches it, so a stray setting in
a shell can never make a real run fail. The points are:

- `step` (n): before step n of a plan touches the kernel (its journal entry is written);
- `stepped` (n): after step n changed the kernel, before its `done` entry;
- `undo` (n): before the rollback undoes step n;
- `write` (path): before a state file is written, and `written` (path) after;
- `unlink` (path): before a state file is removed;
- `vouch` ("start", "stop"): `up`'s check of what it made (`engine.vouch`) forked, or stopped.

This module imports nothing, so the lowest layers may use it.
"""

from __future__ import annotations

_hook = None


def install(hook) -> None:
    """Install `hook(name, detail)` (tests only); None removes it."""
    global _hook
    _hook = hook


def point(name: str, detail=None) -> None:
    if _hook is not None:
        _hook(name, detail)


class InjectedFault(OSError):
    """A failure a test asked for, at a fault point."""

    def __init__(self, name: str, detail=None):
        super().__init__(5, f"injected fault at {name} {detail}")
