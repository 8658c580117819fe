"""Apply a plan step by step, journaled; on any failure, undo what was done, newest first.

Each step is written to the journal (and flushed) before it touches the
kernel. An operation is atomic on its own: when it fails it leaves nothing
half-made, so rollback undoes only the steps before it. Rolling back an
applied op undoes it, except where an earlier op of the same run that is also
being undone takes it along (a namespace takes its interfaces); rolling back
a removal re-makes the op and everything the kernel removed with it.

A test-only hook, the environment variable PIPENET_TEST_FAIL_STEP=K, makes
step K (1-based) fail as if the kernel had refused it, and
PIPENET_TEST_FAIL_UNDO=K makes the undo of step K fail too, and
PIPENET_TEST_KILL_STEP=K kills the process (SIGKILL) just after step K's
journal entry, so every rollback and recovery path can be proven by the
test suite.
"""

from __future__ import annotations

import errno
import os
import signal
from typing import Callable

from pipenet.errors import ApplyFailed, Leftovers
from pipenet.engine.journal import Journal
from pipenet.plan.diff import Plan, Step


class InjectedFault(OSError):
    def __init__(self, step: int):
        super().__init__(5, f"injected fault at step {step} (PIPENET_TEST_FAIL_STEP)")


def _hook(name: str) -> int | None:
    v = os.environ.get(name)
    return int(v) if v and v.isdigit() else None


def _run(step: Step, k) -> None:
    if step.action == "apply":
        step.op.apply(k)
    else:
        step.op.undo(k)


def _remake(op, k) -> None:
    """Re-make a removed op; one whose removal never happened (a run killed just before it) is
    still there, and that is fine."""
    try:
        op.apply(k)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise


def rollback(done: list[Step], k, fail_undo: int | None = None, offset: int = 0) -> list[str]:
    """Undo `done` (steps that completed), newest first; return what could not be undone."""
    leftovers: list[str] = []
    # parents made in this run whose undo takes their children along (parents precede children)
    takers = {s.op.key for s in done if s.action == "apply" and s.op.destroys_children}
    for n in range(len(done) - 1, -1, -1):
        step = done[n]
        op = step.op
        try:
            if fail_undo is not None and n + 1 + offset == fail_undo:
                raise OSError(5, f"injected undo fault at step {n + 1} (PIPENET_TEST_FAIL_UNDO)")
            if step.action == "apply":
                # a parent applied in this run and undone below takes this op along with it
                if any(p in takers for p in op.parents):
                    continue
                op.undo(k)
            else:
                _remake(op, k)
                for child in step.implied:
                    _remake(child, k)
        except Exception as e:  # noqa: BLE001 - every failure is reported as a leftover
            what = op.describe()[0] if step.action == "apply" else op.describe_undo()[0]
            leftovers.append(f"{what}  ({e})")
    return leftovers


def execute(plan: Plan, k, journal: Journal, record_before: dict | None,
            progress: Callable[[int, int, Step], None] | None = None) -> None:
    """Apply every step of `plan`; raise ApplyFailed (rolled back) or Leftovers (not all undone)."""
    fail_at = _hook("PIPENET_TEST_FAIL_STEP")
    fail_undo = _hook("PIPENET_TEST_FAIL_UNDO")
    kill_at = _hook("PIPENET_TEST_KILL_STEP")
    journal.begin(plan.steps, record_before)
    done: list[Step] = []
    steps = plan.steps
    total = len(steps)
    i = 0
    while i < total:
        step = steps[i]
        batch = _batch(steps, i)
        try:
            if step.action == "apply":
                step.op.prepare(k)
            for n in range(i, i + len(batch)):
                journal.start(n, steps[n])
                if kill_at is not None and n + 1 == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)  # a crash, mid-run, journal written
                if fail_at is not None and n + 1 == fail_at:
                    i = n
                    step = steps[n]
                    raise InjectedFault(n + 1)
            if len(batch) > 1:
                type(step.op).undo_many([s.op for s in batch], k)
            else:
                _run(step, k)
            for n in range(i, i + len(batch)):
                journal.done(n, steps[n])
        except Exception as e:  # noqa: BLE001 - any failure rolls back
            journal.rollback()
            leftovers = rollback(done, k, fail_undo)
            what = step.describe()[0]
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            if leftovers:
                raise Leftovers(f"step {i + 1} of {total} failed: {what}: {reason}; and the rollback "
                                f"could not undo everything", leftovers) from e
            journal.finish()
            raise ApplyFailed(f"step {i + 1} of {total} failed: {what}: {reason}; "
                              f"rolled back, the system is as it was before") from e
        done.extend(batch)
        i += len(batch)
        if progress is not None:
            progress(i, total, step)


def _batch(steps: list[Step], i: int) -> list[Step]:
    """Consecutive removals that can be done in one kernel request (same op kind and batch key)."""
    first = steps[i]
    key = first.op.batch_key() if first.action == "remove" else None
    if key is None:
        return [first]
    j = i + 1
    while (j < len(steps) and steps[j].action == "remove" and type(steps[j].op) is type(first.op)
           and steps[j].op.batch_key() == key):
        j += 1
    return steps[i:j]
