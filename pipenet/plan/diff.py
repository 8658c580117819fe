"""The plan: what the file wants, against what the record says pipenet made, against what is live.

Refresh, then diff (as Terraform does). Every recorded operation is checked
against the live system (`Op.check`, through a `LiveView`):

- recorded, still wanted, unchanged, and live as made: left alone (its
  namespace, interface or route is not touched);
- recorded and wanted, but gone from the kernel: made again (`+ ... (missing)`);
- recorded and wanted, live but different (an MTU, a rule, a file's content,
  a gateway): put right in place (`~ ... (changed)`), or, where that cannot be
  done in place, removed and made again;
- recorded but no longer wanted (or wanted with other parameters): removed,
  when it is still there and still pipenet's; everything that lives on it goes
  with it in the kernel ("implied" removals), and what of that is still wanted
  is made again;
- wanted and not recorded: made, unless the live system has an object of that
  name that pipenet did not make (a conflict: nothing is changed).

An object pipenet did not make is never removed or changed; one that holds a
name a wanted operation needs makes the whole plan a conflict. Removals come
first, newest first; then applies and repairs, in the compiler's dependency
order. `down` is the same computation with nothing wanted; it does not
check what lives in a namespace it deletes (`read_children=False`): the
namespace's own mark is checked, and the kernel deletes what is inside with
it, so its addresses and routes are not read one by one. Without a view
(`view=None`) the record is taken as the truth: the planner's unit tests use
that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipenet.errors import Conflict
from pipenet.plan.ops import OK, Op, Verdict


@dataclass
class Step:
    action: str  # "apply", "remove" or "repair"
    op: Op
    #: for a removal: recorded ops the kernel removes along with this one (re-made on rollback)
    implied: list[Op] = field(default_factory=list)
    #: why: "new", "missing", "changed: ...", "gone from the file", ...
    reason: str = ""
    #: for a repair (or the removal of a changed object): what was live before, to put back on rollback
    observed: Any = None

    def describe(self) -> list[str]:
        if self.action == "apply":
            return self.op.describe()
        if self.action == "repair":
            return self.op.describe_repair(self.observed)
        return self.op.describe_undo()

    @property
    def sign(self) -> str:
        return {"apply": "+", "remove": "-", "repair": "~"}[self.action]

    def to_json(self) -> dict:
        d = {"action": self.action, "op": self.op.json_form(), "implied": [o.json_form() for o in self.implied]}
        if self.reason:
            d["reason"] = self.reason
        if self.observed is not None:
            d["observed"] = self.observed
        return d

    @staticmethod
    def from_json(d: dict) -> Step:
        if not isinstance(d, dict) or d.get("action") not in ("apply", "remove", "repair"):
            raise ValueError("a journal step must be an object with an action")
        return Step(d["action"], Op.from_json(d["op"]), [Op.from_json(o) for o in d.get("implied", [])],
                    d.get("reason", ""), d.get("observed"))


@dataclass
class Plan:
    steps: list[Step]
    #: the record to write after success: every wanted op, with saved state carried over
    final: list[Op]
    #: what the live check found for each recorded op (by key), for `status` and messages
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.steps


def _check(op: Op, view, cache: dict[str, Verdict]) -> Verdict:
    if view is None:
        return OK
    known = cache.get(op.key)
    if known is None:
        known = cache[op.key] = op.check(view)
    return known


def diff(desired: list[Op], recorded: list[Op], view=None, read_children: bool = True,
         known: dict[str, Verdict] | None = None) -> Plan:
    """read_children=False: what the kernel removes along with a removal is taken from the record, not
    checked live (so a rollback makes it again as recorded): `down`, where that is the inside of each
    namespace it deletes. `known`: verdicts of recorded ops already checked against `view` in this
    command (by key)."""
    rec = {op.key: op for op in recorded}
    want = {op.key: op for op in desired}
    verdicts: dict[str, Verdict] = dict(known or {})
    conflicts: list[str] = []
    remove: set[str] = set()  # recorded, live and pipenet's, to be removed explicitly
    gone: set[str] = set()  # recorded keys whose object is (or will be) gone from the kernel
    stays: set[str] = set()  # ...of which removals that leave what is inside them (an attached namespace)
    remade: set[str] = set()  # keys that will be made (again): their dependents must be made again too
    repaired: set[str] = set()  # keys put right in place: their dependents are made again as well

    def taken_along(parents: tuple[str, ...], every: bool = False) -> bool:
        """Its object goes (or went) with a parent's, by the kernel's cascade (`every`: only with all of
        them, `Op.cascades_with_all`)."""
        if every:
            return bool(parents) and all(p in gone and p not in stays for p in parents)
        return any(p in gone and p not in stays for p in parents)

    # (each op's key and parents worked out once: properties that format text, read a few times each
    # for every one of the twenty thousand ops of a `down` at 4,000 containers)
    keys = [op.key for op in recorded]
    parents_of = [op.parents for op in recorded]
    for op, key, parents in zip(recorded, keys, parents_of):  # recorded order is dependency order
        if key in gone:
            continue
        if taken_along(parents, op.cascades_with_all):
            gone.add(key)  # the kernel removes it along with its parent (or already has)
            continue
        v = _check(op, view, verdicts)
        unwanted = key not in want or want[key].identity() != op.identity()
        if v.adopted and key not in want:
            gone.add(key)  # not pipenet's to remove: it was there before, and stays
            continue
        if v.state in ("missing", "foreign"):
            gone.add(key)
            if v.state == "foreign" and not unwanted:
                conflicts.append(v.detail)
            elif key in want:
                remade.add(key)  # made again below: what depends on it is made again too
            continue
        if unwanted or any(d in remade or d in remove or d in repaired for d in op.depends) or (
                v.state == "changed" and (not op.repairable or v.remake)):
            remove.add(key)
            gone.add(key)
            remade.add(key)
            if op.keeps_children:
                stays.add(key)
        elif v.state == "changed":
            repaired.add(key)  # (a process started before its /etc files were put right sees the old ones)
    if conflicts:
        raise Conflict(conflicts)
    children: dict[str, list[tuple[str, Op]]] = {}
    position = {key: i for i, key in enumerate(keys)}
    for op, key, parents in zip(recorded, keys, parents_of):
        for p in parents:
            children.setdefault(p, []).append((key, op))
    steps: list[Step] = []
    claimed: set[str] = set()  # (ops a removal before takes along: the address on a pair's end in a namespace)
    for op, key, parents in zip(reversed(recorded), reversed(keys), reversed(parents_of)):
        if key in remove and not taken_along(parents, op.cascades_with_all):
            v = verdicts.get(key, OK)
            implied = [] if op.keeps_children else [c for c in _cascade(key, children, position, remove)
                       if c.key not in claimed
                       and (not read_children or _check(c, view, verdicts).state in ("ok", "changed"))]
            claimed.update(c.key for c in implied)
            why = "gone from the file" if key not in want else (
                f"changed: {v.detail}" if v.state == "changed" else "changed in the file")
            steps.append(Step("remove", op, implied, why, v.observed if v.state == "changed" else None))
    final: list[Op] = []
    for op in desired:
        key = op.key
        old = rec.get(key)
        if old is not None and key not in gone:
            v = verdicts.get(key, OK)
            if hasattr(old, "saved"):
                op.saved = old.saved
            if any(d in remade for d in op.depends):
                steps.append(Step("remove", old, [], "what it depends on is made again"))
                steps.append(Step("apply", op, [], "made again with what it depends on"))
                remade.add(key)
            elif v.state == "changed":
                steps.append(Step("repair", op, [], f"changed: {v.detail}", v.observed))
            final.append(op)
            continue
        if old is not None and old.identity() == op.identity():
            v = verdicts.get(key, OK)
            if hasattr(old, "saved") and v.state == "missing":
                op.saved = old.saved  # a sysctl's original value stays the original
            reason = f"missing: {v.detail}" if v.state == "missing" else "made again"
        else:
            reason = "new" if old is None else "changed in the file"
            if old is None and view is not None and op.adoptable and not any(p in remade for p in op.parents):
                v = op.check(view)
                if v.state == "foreign":
                    conflicts.append(v.detail)
                    continue
                if v.ok:  # already there, carrying pipenet's mark: a record lost in a crash; adopt it
                    final.append(op)
                    continue
                if v.state == "changed" and op.repairable and not v.remake:
                    steps.append(Step("repair", op, [], f"changed: {v.detail}", v.observed))
                    final.append(op)
                    continue
        steps.append(Step("apply", op, [], reason))
        remade.add(key)
        final.append(op)
    if conflicts:
        raise Conflict(conflicts)
    return Plan(steps, final, verdicts)


def _cascade(key: str, children: dict[str, list[tuple[str, Op]]], position: dict[str, int],
             own: set[str] = frozenset()) -> list[Op]:
    """Every recorded op the kernel removes along with the op of `key`, in recorded (dependency) order
    (`children`: each key's (key, op) of the ops whose parents name it). `own`: keys removed by steps of
    their own (a pair between two namespaces, before one of them goes): neither they nor what they take
    along are this op's."""
    todo = children.get(key)
    if not todo:
        return []  # (most of a `down`'s twelve thousand removals at 4,000 containers)
    out: list[tuple[int, Op]] = []
    seen: set[str] = set()
    todo = list(todo)
    while todo:
        k, c = todo.pop(0)
        if k in seen or k in own:
            continue
        seen.add(k)
        out.append((position[k], c))
        todo.extend(children.get(k, ()))
    out.sort(key=lambda pc: pc[0])
    return [c for _, c in out]
