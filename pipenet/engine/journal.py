"""The journal: every step written down, and flushed, before the kernel is touched.

Line 1 is the whole plan. Then, for each step, a `start` line (with what the
operation saved before changing anything, such as a sysctl's earlier
value) before it runs and a `done` line after. A run that finishes (or rolls
back) deletes its journal; a journal found later belongs to a run that was
killed, and `pending()` returns the steps it had started, for undoing.
"""

from __future__ import annotations

import json
import os

from pipenet.plan.diff import Step


class Journal:
    def __init__(self, path: str):
        self.path = path
        self.f = None

    def begin(self, steps: list[Step], record_before: dict | None) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        self.f = os.fdopen(fd, "w")
        self._write({"plan": [s.to_json() for s in steps], "pid": os.getpid()})

    def _write(self, entry: dict, durable: bool = True) -> None:
        self.f.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self.f.flush()
        if durable:
            os.fsync(self.f.fileno())

    def start(self, i: int, step: Step) -> None:
        self._write({"start": i, "saved": getattr(step.op, "saved", None)})

    def done(self, i: int, step: Step | None = None) -> None:
        """Mark a step done; an op that learned something while applying (a process's pid) has it
        written down, durably. Otherwise the line is informational: recovery undoes every started step."""
        saved = getattr(step.op, "saved", None) if step is not None and step.op.kind == "process" else None
        if saved:
            self._write({"done": i, "saved": saved})
        else:
            self._write({"done": i}, durable=False)

    def rollback(self) -> None:
        self._write({"rollback": True})

    def finish(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def pending(path: str) -> list[Step] | None:
    """The steps a killed run had started, in order (None when there is no journal)."""
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
    except FileNotFoundError:
        return None
    if not lines:
        return []
    try:
        head = json.loads(lines[0])
    except json.JSONDecodeError:
        return []
    steps = [Step.from_json(s) for s in head.get("plan", [])]
    started: list[Step] = []
    for line in lines[1:]:
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            break  # a torn last line: the step it announced never started
        if "start" in e:
            s = steps[e["start"]]
            if e.get("saved") is not None and hasattr(s.op, "saved"):
                s.op.saved = e["saved"]
            started.append(s)
        elif "done" in e and e.get("saved"):
            s = steps[e["done"]]
            if hasattr(s.op, "saved"):
                s.op.saved = e["saved"]
    return started
