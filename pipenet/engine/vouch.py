"""`up` leaves the memo of what it made (`engine.verified`), so the first no-op after it is as quick as the
next ones.

Without it, the first `up` of an unchanged file (or `plan`, or `status`) after an `up` found no memo: it
read and decoded every namespace, checked every operation, and only then wrote the memo the later ones
use (at 4,000 containers, 0.71 s against 0.45 s). `up` now does that check itself, beside its own work:
once the last step that can change a namespace's links, addresses or routes is made (every later one
writes files, firewall rules or host settings), a forked child starts the no-op's own check
(`live.all_live` without a memo) of the entries a memo vouches for (`Op.vouched_by`: namespaces, pairs,
addresses, routes), at the lowest priority, while `up` goes on with its last steps, its record and its
journal; `up` takes the answer when it is done, and writes the memo keyed by the record it wrote.

The memo is the same promise as the no-op's: a namespace's digest, or a bridge port's identity, is kept
only when it was read by a check that found every entry it vouches for live as made. Anything else (a
check that fails, a child that dies, a run that fails or is interrupted) leaves no memo, and the next
check decodes everything, as before: nothing is taken on trust from what `up` meant to make, only from
what a check read after it was made.

Only from `AT` namespaces on (see there).
"""

from __future__ import annotations

from pipenet.plan.ops.base import REGISTRY

#: from this many namespaces made by one run on, `up` leaves the memo: below, the first no-op's own check
#: is at most about 0.1 s longer than the next ones' (0.06 s at 1,000 containers), and doing it in `up`
#: would cost `up` about as much (docs/performance.md, "The first no-op after an up"); and an `up` that
#: changes a few containers of a big topology would wait for the whole check (nothing of its own to do
#: meanwhile), where the next no-op would have done it
AT = 2000


def last_changing(steps) -> int:
    """How many of `steps` come before every step that changes no namespace's links, addresses or
    routes (`Op.anywhere`: files, firewall rules, host settings, whose checks read no interface and whose
    changes touch none): once the first this many are made, nothing that follows changes what the
    check reads."""
    n = 0
    for i, step in enumerate(steps):
        if not type(step.op).anywhere:
            n = i + 1
    return n


class Vouching:
    """`up`'s check of what it made, under way in a forked child (`start`), its memo kept by `finish`
    or dropped by `drop`."""

    def __init__(self, plan, k):
        self.plan, self.k = plan, k
        self.forked = None

    def start(self) -> None:
        """Fork the child that checks the live system (called by the executor, `after` the last step
        that changes a namespace), when this run makes `AT` namespaces or more. It checks the entries
        of the record this run writes, as the record holds them (each op's JSON, made into an op again,
        exactly as the no-op does): what a step learns goes into an op's `saved`, and no step after
        this one makes one of these ops."""
        from pipenet import faults

        made = sum(1 for s in self.plan.steps if s.action == "apply" and s.op.kind == "netns")
        if made < AT:
            return
        kinds = frozenset(kind for kind, cls in REGISTRY.items() if cls.vouched_by)
        ops = [op for op in self.plan.final if op.kind in kinds]
        k = self.k

        def check():
            from pipenet.engine.live import LiveView, all_live
            from pipenet.gcpause import gc_paused

            with gc_paused():
                view = LiveView(k)  # (no memo: every namespace read, decoded and checked, the host's links in full)
                if not all_live([op.to_json() for op in ops], view):
                    return None
                return view.settled(), view.host_ports()

        try:
            self.forked = k.fork_work(check, aside=True)
        except Exception:  # noqa: BLE001 - no process to be had: no memo (never a failure of the run)
            self.forked = None
            return
        faults.point("vouch", "start")

    def finish(self, state, record: dict) -> bool:
        """Wait for the child's answer and keep its memo for `record` (as `state` has just written it),
        when every entry it checked was live as made. True when a memo was kept. Nothing here fails the
        `up`, whose work is done and committed by now: Ctrl-C meanwhile stops the check and keeps nothing,
        and so does any error."""
        from pipenet.engine import verified

        forked = self.forked
        if forked is None:
            return False
        try:
            forked.hurry()
            whole, answer = forked.answer()  # (stops the child itself when interrupted)
            if not whole or answer is None:
                return False
            settled, ports = answer
            verified.save(state, record, {}, settled, None, ports)
            return True
        except (KeyboardInterrupt, Exception):  # noqa: BLE001 - see above
            return False
        finally:
            self.forked = None

    def drop(self) -> None:
        """The run failed or was interrupted: the child is stopped, and nothing is kept."""
        from pipenet import faults

        forked, self.forked = self.forked, None
        if forked is not None:
            forked.stop()
            faults.point("vouch", "stop")
