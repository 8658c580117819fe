"""Every error pipenet raises, in one place (the exit status each one maps to).

- `PipenetError`: base class; carries the CLI exit status.
- `InvalidTopology` (1): the file has diagnostics; nothing was changed.
- `UsageError` (1): the arguments or the environment are wrong; nothing changed.
- `UnsupportedByKernel` (1): the running kernel lacks a feature the file needs.
- `Conflict` (1): something pipenet did not make is in the way (or another topology holds it).
- `CorruptState` (1): a state file cannot be trusted; the message names it and what to do.
- `ApplyFailed` (2): `up` failed and was rolled back; the system is as before.
- `Leftovers` (3): something could not be undone; the list says what remains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # (the diagnostics' rendering is loaded only where a file is read)
    from pipenet.diagnostics import Diagnostic


class PartlyDone(Exception):
    """A batch of kernel changes stopped partway (an internal signal, never shown as such): `done`
    holds the results of those made, in order; `cause` is why the next one was not."""

    def __init__(self, done: list, cause: BaseException):
        self.done = done
        self.cause = cause
        super().__init__(str(cause))


class PipenetError(Exception):
    exit_code = 1


class UsageError(PipenetError):
    exit_code = 1


class InvalidTopology(PipenetError):
    exit_code = 1

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: dict | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = sources or {}
        super().__init__(f"{len(self.diagnostics)} error(s) in topology")

    def __reduce__(self):  # (errors cross from a sandbox, pickled)
        return (type(self), (self.diagnostics, self.sources))


class UnsupportedByKernel(PipenetError):
    exit_code = 1


class Conflict(PipenetError):
    """Something in the kernel that pipenet did not make is in the way; nothing was changed."""

    exit_code = 1

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))

    def __reduce__(self):
        return (type(self), (self.problems,))


class CorruptState(PipenetError):
    """A state file is unreadable or not what pipenet writes; nothing was changed."""

    exit_code = 1


class ApplyFailed(PipenetError):
    exit_code = 2


class Leftovers(PipenetError):
    exit_code = 3

    def __init__(self, message: str, remaining: Sequence[str]):
        self.remaining = list(remaining)
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), self.remaining))
