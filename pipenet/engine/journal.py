"""The journal: every step written down, and flushed, before the kernel is touched.

Line 1 is the header: the whole plan, the command (`up` or `down`), the
generation of the record the run started from (`base`), and what the record
will say besides its operations (`meta`: namespaces, hostnames, ports...).
Then, for each step, a `start` line (with what the operation saved before
changing anything, such as a sysctl's earlier value) before it runs and a
`done` line after (durable when the step learned something, such as a
process's pid). A run that finishes, or rolls back, removes its journal;
one found later belongs to a run that was killed (`read()`).

Only `start` lines, and `done` lines that carry what a step learned, are
read back; a plain `done` line is informational, so it is left in the
file's buffer and reaches the file with the next line that must (a run
killed before that loses only lines nobody reads; a torn last line is a
step that never started). The `start` lines of steps made together (one
kernel request, one hand-over) are written and flushed at once, before the
first of them runs, and so are their `done` lines after. At thousands of
steps a line each written, flushed and encoded by `json.dumps` was a tenth
of `up`.

A line read back is always flushed before its step runs: a process killed
at any moment has written it. It is also fsynced (forced to the disk) only
when its step makes or changes something that outlives a reboot
(`Op.persistent`: a file under /etc/netns or the state directory): what
every other step makes (namespaces, interfaces, addresses, routes, rules,
settings, processes) is gone after a machine crash anyway, with nothing to
find and undo, and what a removal removes is still listed by the record
until the run commits. Where the
state directory is on a disk rather than a tmpfs (/run is a directory of
the root filesystem on some machines), an fsync a step cost `up` of 1,000
containers a second (5,000 fsyncs of about 0.15 ms).

Space for the whole journal is reserved when it is opened (a full disk is
then a refusal before the first change, never a run that cannot write its
next line).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from pipenet import faults
from pipenet.errors import CorruptState
from pipenet.plan.diff import Step

JOURNAL_VERSION = 2

#: the header's encoder: plain data (no cycle to look for: 15% of the 6 MB header of a `down` at 4,000)
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class Journal:
    def __init__(self, path: str):
        self.path = path
        self.f = None

    def begin(self, steps: list[Step], base: int, meta: dict | None = None, command: str = "up") -> None:
        from pipenet.backends import linux

        head = _encode({"journal": JOURNAL_VERSION, "command": command, "base": base, "pid": os.getpid(),
                        "meta": meta or {}, "plan": [s.to_json() for s in steps]})
        faults.point("write", self.path)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            # the header, a start and a done line per step (a start line repeats what the step saves),
            # and the rollback line: reserved now, so no later line meets a full disk
            linux.fallocate(fd, 2 * len(head) + 200 * len(steps) + 65536, keep_size=True)
        except OSError:
            os.close(fd)
            os.unlink(self.path)
            raise
        self.f = os.fdopen(fd, "w")
        self._line(head, _durable(steps))

    def _line(self, text: str, durable: bool) -> None:
        """Write and flush a line; `durable`: fsync it too (see the module's docstring)."""
        self.f.write(text + "\n")
        self.f.flush()
        if durable:
            os.fsync(self.f.fileno())
        faults.point("written", self.path)

    def _write(self, entry: dict, durable: bool) -> None:
        faults.point("write", self.path)
        self._line(json.dumps(entry, separators=(",", ":")), durable)

    def start(self, i: int, step: Step) -> None:
        self.start_many(i, [step])

    def start_many(self, first: int, steps: list[Step]) -> None:
        """The `start` lines of steps `first`, `first + 1`, ... in one write (they are run together, after
        it), fsynced when one of them makes or changes something `persistent` (`_durable`)."""
        faults.point("write", self.path)
        self._line("\n".join(_start_line(first + n, s) for n, s in enumerate(steps)), _durable(steps))

    def done(self, i: int, step: Step | None = None) -> None:
        """Mark a step done; an op that learned something while applying (a process's pid) has it
        written down at once (fsynced as `_durable` says). Otherwise the line is
        informational: buffered, it goes out with the next line written (see the module's docstring)."""
        if step is not None and step.op.learns:
            faults.point("write", self.path)
            self._line(_done_line(i, step), _durable([step]))
        else:
            self.f.write(_done_line(i, None) + "\n")

    def done_many(self, first: int, steps: list[Step]) -> None:
        """`done` for steps `first`, `first + 1`, ... made together: one write, flushed at once when one of
        them learned something (and fsynced as `_durable` says of those)."""
        if len(steps) == 1:
            return self.done(first, steps[0])
        lines = "\n".join(_done_line(first + n, s) for n, s in enumerate(steps))
        if any(s.op.learns for s in steps):
            faults.point("write", self.path)
            self._line(lines, _durable([s for s in steps if s.op.learns]))
        else:
            self.f.write(lines + "\n")

    def rollback(self) -> None:
        self._write({"rollback": True}, True)

    def finish(self) -> None:
        if self.f is not None:
            try:
                self.f.close()
            except OSError:
                pass
            self.f = None
        faults.point("unlink", self.path)
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _durable(steps: list[Step]) -> bool:
    """Must these steps' lines be on the disk before they run? When one of them makes or changes
    something that outlives a reboot (`Op.persistent`). A removal need not: until the run commits, the
    record still lists what it removes."""
    return any(s.op.persistent and s.action != "remove" for s in steps)


def _start_line(i: int, step: Step) -> str:
    saved = getattr(step.op, "saved", None)
    if saved is None:  # (most steps save nothing: the line needs no encoder)
        return f'{{"start":{i},"saved":null}}'
    return json.dumps({"start": i, "saved": saved}, separators=(",", ":"))


def _done_line(i: int, step: Step | None) -> str:
    """A `done` line: with what the step learned when its op learns (a process's pid), else bare."""
    if step is None or not step.op.learns:
        return f'{{"done":{i}}}'
    return json.dumps({"done": i, "saved": getattr(step.op, "saved", None)}, separators=(",", ":"))


@dataclass
class Pending:
    """What a killed run left: its plan, and the steps it had started (with what they saved)."""

    command: str
    base: int
    meta: dict
    steps: list[Step]
    started: list[Step] = field(default_factory=list)


def read(path: str) -> Pending | None:
    """The journal a killed run left (None when there is none). A header that is not pipenet's raises
    CorruptState; a torn last line (the run died while writing it) is a step that never started."""
    try:
        with open(path, "rb") as f:
            lines = [l for l in f.read().decode("utf-8", errors="replace").splitlines() if l.strip()]
    except FileNotFoundError:
        return None
    except OSError as e:
        raise CorruptState(f"{path} cannot be read ({e.strerror}); remove it, then `pipenet down --force` "
                           f"the topology if anything of it is left") from None
    if not lines:
        return Pending("up", -1, {}, [])  # killed before the header was written: nothing started
    try:
        head = json.loads(lines[0])
        if not isinstance(head, dict) or head.get("journal") != JOURNAL_VERSION or not isinstance(
                head.get("base"), int) or not isinstance(head.get("plan"), list):
            raise ValueError("not a pipenet journal header")
        steps = [Step.from_json(s) for s in head["plan"]]
    except (ValueError, TypeError, KeyError, RecursionError) as e:
        if len(lines) == 1 and not lines[0].rstrip().endswith("}"):
            return Pending("up", -1, {}, [])  # the header itself was torn: nothing started
        raise CorruptState(f"{path} is not a journal pipenet can read ({e}); remove it, then `pipenet down "
                           f"--force` the topology if anything of it is left") from None
    p = Pending(head.get("command", "up"), head["base"], head.get("meta") or {}, steps)
    seen: set[int] = set()
    for line in lines[1:]:
        try:
            e = json.loads(line)
        except ValueError:
            break  # a torn last line: the step it announced never started
        if not isinstance(e, dict):
            break
        n = e.get("start", e.get("done"))
        if not isinstance(n, int) or not 0 <= n < len(steps):
            continue
        s = steps[n]
        if e.get("saved") is not None and hasattr(s.op, "saved"):
            s.op.saved = e["saved"]
        if "start" in e and n not in seen:
            seen.add(n)
            p.started.append(s)
    return p
