"""Apply a plan step by step, journaled; on any failure, undo what was done, newest first.

Each step is written to the journal (and flushed) before it touches the
kernel. An operation is atomic on its own: when it fails it leaves nothing
half-made, so rollback undoes only the steps before it. Rolling back an
applied op undoes it, except where an earlier op of the same run that is also
being undone takes it along (a namespace takes its interfaces); rolling back
a repair puts back what was there before it; rolling back a removal re-makes
the op and everything the kernel removed with it.

Tests make steps fail, undos fail, or the process die, through the fault
points of `pipenet.faults` (never through the environment).
"""

from __future__ import annotations

import errno
import threading
from typing import Callable

from pipenet import faults
from pipenet.errors import ApplyFailed, Leftovers, PartlyDone
from pipenet.engine.journal import Journal
from pipenet.plan.diff import Plan, Step


def _run(step: Step, k) -> None:
    if step.action == "apply":
        step.op.apply(k)
    elif step.action == "repair":
        step.op.repair(k, step.observed)
    else:
        step.op.undo(k)


def _remake(op, k, observed=None) -> None:
    """Re-make a removed op as it was seen; one whose removal never happened (a run killed just before
    it) is still there, and that is fine."""
    try:
        op.remake(k, observed)
    except OSError as e:
        if e.errno != errno.EEXIST:
            raise


def rollback(done: list[Step], k) -> list[str]:
    """Undo `done` (steps that completed), newest first; return what could not be undone."""
    leftovers: list[str] = []
    # parents made in this run whose undo takes their children along (parents precede children)
    takers = {s.op.key for s in done if s.action == "apply" and s.op.destroys_children}

    def taken(step: Step) -> bool:
        """A parent applied in this run and undone below takes this op along with it (all of them, for
        an op that goes only with all its parents: a pair between two namespaces)."""
        if step.action != "apply":
            return False
        op = step.op
        parents = op.parents
        return (all(p in takers for p in parents) if op.cascades_with_all and parents
                else any(p in takers for p in parents))

    # what a removed parent took with it is made again once every removal is undone: a namespace's
    # addresses sit on interfaces that are themselves made again only later in this loop (the host
    # ends of its bridge ports, removed before the namespace)
    implied: list[list] = []
    n = len(done) - 1
    while n >= 0:
        together, n = _undo_together(done, n, taken, k)
        for m in together:
            step = done[m]
            op = step.op
            try:
                faults.point("undo", m + 1)
                if step.action == "apply":
                    op.undo(k)
                elif step.action == "repair":
                    op.unrepair(k, step.observed)
                else:
                    _remake(op, k, step.observed)  # it was there, perhaps different: as it was
                    implied.append(step.implied)
            except Exception as e:  # noqa: BLE001 - every failure is reported as a leftover
                what = op.describe_undo()[0] if step.action == "apply" else (
                    op.describe()[0] if step.action == "remove" else f"put back {op.key}")
                leftovers.append(f"{what}  ({e})")
    for children in reversed(implied):  # (in the plan's order)
        for child in children:
            try:
                _remake(child, k)
            except Exception as e:  # noqa: BLE001 - every failure is reported as a leftover
                leftovers.append(f"{child.describe()[0]}  ({e})")
    return leftovers


def _undo_together(done: list[Step], n: int, taken, k) -> tuple[list[int], int]:
    """The rollback's next steps from `done[n]` down: those made in this run that can be undone in one
    request (ops of one `undo_many` and batch key, as a `down` removes them: a topology's bridge ports
    in one request, where one by one each waits for the kernel, 25 ms a port at a few hundred) are
    undone here; returns the indexes of the steps left to undo one by one, newest first, and the index
    to go on from. Steps a parent takes along are passed over; a batch that fails, or whose undo a test
    makes fail (`faults`), leaves what it did not deal with to be undone one by one."""
    while n >= 0 and taken(done[n]):
        n -= 1
    if n < 0:
        return [], n
    first = done[n].op
    many = getattr(type(first), "undo_many", None)
    key = first.batch_key() if done[n].action == "apply" and many is not None else None
    if key is None:
        return [n], n - 1
    batch = [n]
    j = n - 1
    while j >= 0:
        s = done[j]
        if taken(s):
            j -= 1
            continue
        if s.action != "apply" or getattr(type(s.op), "undo_many", None) is not many or s.op.batch_key() != key:
            break
        batch.append(j)
        j -= 1
    if len(batch) == 1:
        return batch, j
    try:
        for m in batch:
            faults.point("undo", m + 1)
        many([done[m].op for m in batch], k)
        return [], j
    except PartlyDone as e:
        dealt = {id(op) for op in e.done}
        return [m for m in batch if id(done[m].op) not in dealt], j
    except Exception:  # noqa: BLE001 - each is tried on its own, and reported if it fails again
        return batch, j


class _Background:
    """A removal batch done in a thread while the steps after it go on: a topology's host interfaces,
    whose one request keeps the kernel busy for seconds at thousands of ports (and holds its RTNL
    lock, so that only steps that do not need it go on meanwhile: files, firewall rules)."""

    def __init__(self, batch: list[Step], first: int, k, position: int):
        self.batch, self.first = batch, first
        self.position = position  # where its steps go in `done`: after those done before it started
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(k,), daemon=True)
        self.thread.start()

    def _run(self, k) -> None:
        try:
            _undo_batch(self.batch, k)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread by `settle`
            self.error = e

    def settle(self, done: list[Step], journal: Journal) -> None:
        """Wait for it; put what it did into `done` (in the plan's order); raise what it raised."""
        self.thread.join()
        e = self.error
        dealt = self.batch if e is None else _dealt(self.batch, e) if isinstance(e, PartlyDone) else []
        done[self.position:self.position] = dealt
        if e is not None:
            raise (e.cause if isinstance(e, PartlyDone) else e)
        for n in range(self.first, self.first + len(self.batch)):
            faults.point("stepped", n + 1)
        journal.done_many(self.first, self.batch)


def _undo_batch(batch: list[Step], k) -> None:
    """`undo_many` of a removal batch; PartlyDone carries the ops dealt with (not always a prefix)."""
    type(batch[0].op).undo_many([s.op for s in batch], k)


def _dealt(batch: list[Step], e: PartlyDone) -> list[Step]:
    ids = {id(op) for op in e.done}
    return [s for s in batch if id(s.op) in ids]


def execute(plan: Plan, k, journal: Journal, base: int = 0, meta: dict | None = None, command: str = "up",
            progress: Callable[[int, int, Step], None] | None = None,
            after: tuple[int, Callable[[], None], Callable[[], None]] | None = None) -> None:
    """Apply every step of `plan`; raise ApplyFailed (rolled back) or Leftovers (not all undone).
    `progress(done, total, step)` is told of each step made; a `progress.kernel_at_work()`, if it has
    one, is called when only the kernel's long request (a background batch) is left to wait for.
    `after` (n, start, stop): start() is called once, as soon as the first n steps are made (work that
    may go on while the rest are made: `engine.vouch`), and stop() before a rollback, once started."""
    journal.begin(plan.steps, base, meta, command)
    done: list[Step] = []
    steps = plan.steps
    total = len(steps)
    background: _Background | None = None
    threads: list[threading.Thread] = []  # (every background batch's, waited for on Ctrl-C)
    i = 0
    stop = None  # (`after`'s, once started)
    if after is not None and after[0] <= 0:
        after[1]()
        after, stop = None, after[2]
    while i < total or background is not None:
        batch = batch_at(steps, i) if i < total else []
        at = i  # the step being worked on, for the message when it fails
        try:
            if background is not None and (not batch or not _alongside(batch)):
                at = background.first
                bg, background = background, None
                _kernel_at_work(progress)
                bg.settle(done, journal)
                if progress is not None:
                    progress(len(done), total, bg.batch[-1])
                if not batch:
                    break
                at = i
            if steps[i].action == "apply":
                for s in batch:
                    s.op.prepare(k)
            journal.start_many(i, batch)
            for n in range(i, i + len(batch)):
                at = n
                faults.point("step", n + 1)
            at = i
            if len(batch) > 1 and steps[i].action == "apply":
                try:
                    type(steps[i].op).apply_many([s.op for s in batch], k)
                except PartlyDone as e:  # those made are undone with the rest
                    done.extend(batch[:len(e.done)])
                    at = i + len(e.done)
                    raise e.cause from None
            elif len(batch) > 1 and background is None and in_background(batch):
                background = _Background(batch, i, k, len(done))
                threads.append(background.thread)
                i += len(batch)
                continue
            elif len(batch) > 1:
                try:
                    _undo_batch(batch, k)
                except PartlyDone as e:  # those dealt with (not always a prefix) are made again with the rest
                    dealt = _dealt(batch, e)
                    done.extend(dealt)
                    ids = {id(s) for s in dealt}
                    at = i + next(n for n, s in enumerate(batch) if id(s) not in ids)
                    raise e.cause from None
            else:
                _run(steps[i], k)
            done.extend(batch)  # in the kernel now: whatever fails from here on undoes them too
            for n in range(i, i + len(batch)):
                faults.point("stepped", n + 1)
            journal.done_many(i, batch)
        except BaseException as e:  # noqa: BLE001 - any failure rolls back
            if not isinstance(e, Exception):  # Ctrl-C: the kernel's work under way is waited for, then it goes on
                for thread in threads:
                    _wait(thread)
                raise
            if background is not None:  # what it did is undone too (a failure of its own is not the first)
                try:
                    background.settle(done, journal)
                except Exception:  # noqa: BLE001
                    pass
                background = None
            if stop is not None:
                stop()
            try:
                journal.rollback()
            except OSError:
                pass  # a full disk: the rollback goes on; the journal has the steps it needs
            failed = steps[at]
            # a repair changes several things: whatever of it happened is put back too
            partial = [failed] if failed.action == "repair" and failed not in done else []
            leftovers = rollback(done + partial, k)
            what = failed.op.summary if failed.action == "apply" else (failed.describe() or [failed.op.key])[0]
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            if leftovers:
                raise Leftovers(f"step {at + 1} of {total} failed: {what}: {reason}; and the rollback "
                                f"could not undo everything", leftovers) from e
            journal.finish()
            raise ApplyFailed(f"step {at + 1} of {total} failed: {what}: {reason}; "
                              f"rolled back, the system is as it was before") from e
        i += len(batch)
        if after is not None and i >= after[0] and background is None:
            after[1]()
            after, stop = None, after[2]
        if progress is not None:
            progress(len(done), total, steps[i - 1])  # (not counting a background batch still under way)
    if after is not None:  # (every step made, the last in the background: what was to start after them)
        after[1]()


def _kernel_at_work(progress) -> None:
    """Tell the caller's progress (its `kernel_at_work()`, when it has one) that this thread has nothing
    to do until the kernel's request under way ends (once per background batch: one in a `down`), so
    what the command needs after the run can be made meanwhile."""
    hook = getattr(progress, "kernel_at_work", None)
    if hook is not None:
        try:
            hook()
        except Exception:  # noqa: BLE001 - only a head start: the same work is done later if need be
            pass


def _wait(thread: threading.Thread) -> None:
    """Join a thread whatever interruptions come meanwhile (its work is the kernel's, under way)."""
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:
            continue


def in_background(batch: list[Step]) -> bool:
    """A removal batch whose ops say their one request is long (`undo_in_background`)."""
    return batch[0].action == "remove" and getattr(type(batch[0].op), "undo_in_background", False)


def _alongside(batch: list[Step]) -> bool:
    """May this batch run while a background one does? Removals whose ops need no RTNL lock."""
    return batch[0].action == "remove" and all(getattr(type(s.op), "undo_alongside", False) for s in batch)


def _key(step: Step):
    if step.action == "remove":
        return step.op.batch_key()
    return step.op.apply_batch_key() if step.action == "apply" else None


def _together(op, first, action: str) -> bool:
    """May `op` join `first`'s batch? Applies: ops of one class. Removals: ops removed by the same
    `undo_many`, whatever their class (a topology's bridges go in the request that removes its bridge
    ports)."""
    if action == "remove":
        many = getattr(type(first), "undo_many", None)
        return many is not None and getattr(type(op), "undo_many", None) is many
    return type(op) is type(first)


def batch_at(steps: list[Step], i: int) -> list[Step]:
    """Consecutive removals that can be done in one kernel request, or applies made in one go (same
    action, op kind and batch key)."""
    first = steps[i]
    key = _key(first)
    if key is None:
        return [first]
    j = i + 1
    while (j < len(steps) and steps[j].action == first.action and _together(steps[j].op, first.op, first.action)
           and _key(steps[j]) == key):
        j += 1
    return steps[i:j]
