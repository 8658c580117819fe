"""The plan: the difference between what the file wants and what the record says was made.

- An op recorded and still wanted, unchanged, is left alone (its namespace,
  interface or route is not touched).
- An op recorded but no longer wanted, or wanted with other parameters, is
  removed; everything that lives on it goes with it in the kernel
  ("implied" removals), and what of that is still wanted is made again.
- An op wanted and not recorded is applied.

Removals come first, newest first; then applies, in the compiler's
dependency order. `down` is the same computation with nothing wanted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipenet.plan.ops import Op


@dataclass
class Step:
    action: str  # "apply" or "remove"
    op: Op
    #: for a removal: recorded ops the kernel removes along with this one (re-made on rollback)
    implied: list[Op] = field(default_factory=list)

    def describe(self) -> list[str]:
        return self.op.describe() if self.action == "apply" else self.op.describe_undo()

    def to_json(self) -> dict:
        return {"action": self.action, "op": self.op.to_json(), "implied": [o.to_json() for o in self.implied]}

    @staticmethod
    def from_json(d: dict) -> Step:
        return Step(d["action"], Op.from_json(d["op"]), [Op.from_json(o) for o in d.get("implied", [])])


@dataclass
class Plan:
    steps: list[Step]
    #: the record to write after success: every wanted op, with saved state carried over
    final: list[Op]

    @property
    def empty(self) -> bool:
        return not self.steps


def diff(desired: list[Op], recorded: list[Op]) -> Plan:
    rec = {op.key: op for op in recorded}
    want = {op.key: op for op in desired}
    changed = {k for k, op in rec.items() if k not in want or want[k].identity() != op.identity()}
    gone = set(changed)
    for op in recorded:  # recorded order is dependency order: parents come first
        if op.key in gone:
            continue
        if any(p in gone for p in op.parents):
            gone.add(op.key)  # the kernel removes it along with its parent
        elif any(d in gone for d in op.depends):
            changed.add(op.key)  # it must be removed explicitly and made again
            gone.add(op.key)
    children: dict[str, list[Op]] = {}
    position = {op.key: i for i, op in enumerate(recorded)}
    for op in recorded:
        for p in op.parents:
            children.setdefault(p, []).append(op)
    steps: list[Step] = []
    for op in reversed(recorded):
        if op.key in changed and not any(p in gone for p in op.parents):
            steps.append(Step("remove", op, _cascade(op, children, position)))
    final: list[Op] = []
    for op in desired:
        old = rec.get(op.key)
        if old is not None and op.key not in gone:
            if hasattr(old, "saved"):
                op.saved = old.saved
            final.append(op)
        else:
            steps.append(Step("apply", op))
            final.append(op)
    return Plan(steps, final)


def _cascade(op: Op, children: dict[str, list[Op]], position: dict[str, int]) -> list[Op]:
    """Every recorded op the kernel removes along with `op`, in recorded (dependency) order."""
    out: list[Op] = []
    seen: set[str] = set()
    todo = list(children.get(op.key, ()))
    while todo:
        c = todo.pop(0)
        if c.key in seen:
            continue
        seen.add(c.key)
        out.append(c)
        todo.extend(children.get(c.key, ()))
    return sorted(out, key=lambda o: position[o.key])
