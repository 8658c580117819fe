"""What every operation is: plain data that can apply, undo, describe and check itself.

An operation is plain data (namespace refs and names, never open handles),
so it can be written to the journal before it runs, kept in the state
record after, and undone by a later process: `down` undoes what the record
lists, in reverse. Each family of operations lives in its own module; each
operation computes its parameters in one place, which `apply` (the kernel
call), `describe` (the command a person would type, `pipenet plan --format
sh`) and `check` (is it live, and as it should be?) all read, so the three
cannot drift apart.

`key` names the kernel object an operation makes; `parents` are the keys of
the objects it lives in or on (an address lives on an interface, which lives
in a namespace). When a parent goes, the kernel takes the children with it,
so they need no undo of their own, and must be made again if still wanted.
`depends` are objects that, when made again, require making this one again
(a process started in a namespace). `saved` holds what an operation found
before it changed something (a sysctl's earlier value), or learned while
applying (a process's pid), so its undo restores exactly that.

`check(view)` compares the operation with the live system (`LiveView`):
`OK` (there, as wanted), `missing`, `changed` (there, but different: what
was seen is kept in `observed`, so a repair can be undone) or `foreign` (the
name is held by an object pipenet did not make: never touched).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from pipenet.backends.objects import mark as make_mark

REGISTRY: dict[str, type] = {}
_FIELDS: dict[type, tuple[str, ...]] = {}


def _names(cls) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


_CHECKS: dict[type, tuple] = {}
_KINDS = (("str", str, "text"), ("int", int, "a number"), ("bool", bool, "true or false"),
          ("dict", (dict, tuple), "an object"), ("tuple", tuple, "a list"))


def _checks(cls) -> tuple:
    """(field name, accepted types, may be null, what it must be) for each field, worked out once per class
    from its annotations (a record holds thousands of ops)."""
    known = _CHECKS.get(cls)
    if known is None:
        out = []
        for f in fields(cls):
            t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            kinds, word = None, ""
            for prefix, k, w in _KINDS:
                if t.startswith(prefix):
                    kinds, word = k, w
                    break
            out.append((f.name, kinds, "None" in t, word))
        known = _CHECKS[cls] = tuple(out)
    return known


#: a canonical text for plain data: equal values, equal text (dict order and list/tuple aside)
_canon = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def _frozen(v):
    if isinstance(v, (list, tuple)):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _frozen(x)) for k, x in v.items()))
    return v


def _plain(v):
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def q(s) -> str:
    return shlex.quote(str(s))


def ip_cmd(ns: str, *args) -> str:
    """The `ip` command line for namespace ref `ns`."""
    words = " ".join(q(a) for a in args)
    if ns == "":
        return f"ip {words}"
    if ns.startswith("/"):
        return f"nsenter --net={q(ns)} ip {words}"
    return f"ip -n {q(ns)} {words}"


def in_ns_cmd(ns: str, *argv) -> str:
    words = " ".join(q(a) for a in argv)
    if ns == "":
        return words
    if ns.startswith("/"):
        return f"nsenter --net={q(ns)} {words}"
    return f"ip netns exec {q(ns)} {words}"


@dataclass(frozen=True)
class Verdict:
    """What the live system has of one operation's object."""

    state: str  # "ok", "missing", "changed", "foreign"
    detail: str = ""  # in words: what is missing, what differs, whose the object is
    expected: str = ""
    actual: str = ""
    observed: Any = None  # what a repair overwrites, so that it can be put back
    adopted: bool = False  # there as wanted, but not made by pipenet (an external bridge's own address)
    remake: bool = False  # changed in a way no repair in place can undo: removed and made again

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def to_json(self) -> dict:
        return {"state": self.state, "detail": self.detail, "expected": self.expected, "actual": self.actual}


OK = Verdict("ok")
ADOPTED = Verdict("ok", "there already, not made by pipenet: used, never removed", adopted=True)


def missing(detail: str = "", expected: str = "") -> Verdict:
    return Verdict("missing", detail, expected, "absent")


def changed(detail: str, expected: str = "", actual: str = "", observed: Any = None, remake: bool = False) -> Verdict:
    return Verdict("changed", detail, expected, actual, observed, remake=remake)


def foreign(detail: str) -> Verdict:
    return Verdict("foreign", detail)


class NotOurs(OSError):
    """An object in the way carries no mark of pipenet's (or another topology's): it is left alone."""


class Op:
    """The base of every operation (subclasses are dataclasses registered by `kind`)."""

    kind: ClassVar[str] = "op"
    #: True when undoing this op removes every object listed as its child
    destroys_children: ClassVar[bool] = False
    #: True when undoing this op leaves its children where they are (an attached namespace is never
    #: deleted): each child is then removed, or put back, by its own step
    keeps_children: ClassVar[bool] = False
    #: True when the kernel removes this op's object with its parents only once every one of them is
    #: gone, not any one (a veth pair between two namespaces, `AddVeth.parents`); until then it is
    #: removed by a step of its own
    cascades_with_all: ClassVar[bool] = False
    #: True when a `changed` object can be put right in place (`repair`), and back (`unrepair`)
    repairable: ClassVar[bool] = False
    #: True when apply learns something the journal must keep at once (a process's pid)
    learns: ClassVar[bool] = False
    #: True when what this op changes outlives a reboot (a file on disk): its journal lines are then
    #: fsynced before it runs. Everything else it changes (namespaces, interfaces, addresses, routes,
    #: rules, settings, processes) is gone after a machine crash anyway, so its lines are flushed (a
    #: killed process loses none of them) but not forced to the disk (`engine.journal`)
    persistent: ClassVar[bool] = False
    #: True when an object found live, carrying pipenet's mark but missing from the record (a record
    #: lost in a crash), may simply be taken back; False where apply must run to be correct (a
    #: setting whose earlier value must be saved, a process to start)
    adoptable: ClassVar[bool] = True
    #: fields that say how the object is made, not what it is: left out of `identity`, so a record written
    #: before such a field existed still names the same object (no re-making after an upgrade)
    unidentified: ClassVar[tuple[str, ...]] = ()
    #: the fields naming the namespaces whose links, addresses and routes alone decide `check` (nothing
    #: else of the system, no file, setting or firewall): when each is byte for byte what the last check
    #: that found everything live as made read there (`LiveView.vouched`), the check would answer as it
    #: did then, and the no-op `up` skips it (`engine.live.all_live`)
    vouched_by: ClassVar[tuple[str, ...]] = ()
    #: True when `check` reads no interface, address or route of any namespace (files, settings, the
    #: firewall): the no-op's check may do it in either of its processes (`engine.live.all_live`), when
    #: the op is in no namespace or the host's (one in a container's is checked with that namespace)
    anywhere: ClassVar[bool] = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        REGISTRY[cls.kind] = cls

    @property
    def key(self) -> str:
        raise NotImplementedError

    @property
    def parents(self) -> tuple[str, ...]:
        """Keys of objects whose removal takes this op's object with it (the kernel cascades)."""
        return ()

    @property
    def depends(self) -> tuple[str, ...]:
        """Keys of objects that, when re-made, require re-making this op (no cascade)."""
        return ()

    def mark_of(self, key: str | None = None) -> str:
        """The mark this op writes on (and looks for on) its object: topology and key."""
        return make_mark(getattr(self, "owner", "") or "", key or self.key)

    def prepare(self, k) -> None:
        """Read what apply will overwrite (into `saved`), before the journal entry is written."""

    def apply(self, k) -> None:
        raise NotImplementedError

    def undo(self, k) -> None:
        raise NotImplementedError

    def check(self, view) -> Verdict:
        """Is this op's object live, and as this op makes it? (See the module docstring.)"""
        raise NotImplementedError

    def repair(self, k, observed) -> None:
        """Put a `changed` object right, in place."""
        raise NotImplementedError

    def unrepair(self, k, observed) -> None:
        """Undo a repair: put back what was observed before it."""
        raise NotImplementedError

    def remake(self, k, observed=None) -> None:
        """Make the object again as it was seen before a removal (rolling a removal back): as this op
        makes it, then with what differed put back."""
        self.apply(k)
        if observed is not None and self.repairable:
            self.unrepair(k, observed)

    def describe(self) -> list[str]:
        raise NotImplementedError

    def describe_undo(self) -> list[str]:
        return [f"# undo: {self.describe()[0]}"]

    @property
    def summary(self) -> str:
        """One line saying what the op does, for messages (the first command, by default)."""
        return (self.describe() or [self.key])[0].splitlines()[0]

    def describe_repair(self, observed) -> list[str]:
        return self.describe()

    def batch_key(self):
        """Ops whose removals share a key can be removed together in one kernel request."""
        return None

    def apply_batch_key(self):
        """Ops that share this key (not None) and follow one another are made together (`apply_many`,
        which raises PartlyDone, with what it made, when one of them fails)."""
        return None

    def identity(self) -> str:
        """What makes two ops the same change (saved state excluded), as canonical JSON text, so an op
        read back from the record compares equal to the same op compiled anew. (Text, because the
        encoder is C: at thousands of ops a no-op `up` is mostly this comparison.) An op read from
        the record keeps the identity of the exact JSON it was read from."""
        known = self.__dict__.get("_identity")
        if known is not None:
            return known
        d = self.__dict__.get("_read_from")  # (worked out when first asked: a no-op `up` never asks)
        skip = type(self).unidentified
        names = [n for n in _names(type(self)) if n != "saved" and n not in skip]
        values = [d[n] if n in d else getattr(self, n) for n in names] if d else [getattr(self, n) for n in names]
        known = _canon([self.kind] + values)
        if d:
            self.__dict__["_identity"] = known
        return known

    def to_json(self) -> dict:
        d = {}
        for n in _names(type(self)):  # (most fields are scalars: no call for them, at 15,000 ops a record)
            v = getattr(self, n)
            d[n] = _plain(v) if isinstance(v, (list, tuple, dict)) else v
        d["kind"] = self.kind
        return d

    def json_form(self) -> dict:
        """`to_json`, without encoding again an op read from the record whose saved state is still the
        one it was read with: its JSON is the record's own (the journal header of a `down` of 4,000
        containers names 28,000 ops; each encoded anew cost a third of a second). Nothing else in an
        op read back changes after `from_json` (what a step learns goes into `saved`)."""
        d = self.__dict__.get("_read_from")
        if d is not None and self.__dict__.get("saved") is d.get("saved"):
            return d
        return self.to_json()

    @staticmethod
    def from_json(d: dict) -> Op:
        """An op from its JSON form; a form that is not an op (unknown kind, missing or unknown
        fields, wrong types) raises ValueError naming what is wrong."""
        if not isinstance(d, dict):
            raise ValueError(f"an operation must be an object, not {type(d).__name__}")
        kind = d.get("kind")
        cls = REGISTRY.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise ValueError(f"unknown operation kind {kind!r}")
        names = _names(cls)
        args = {}
        for n in names:
            if n in d:
                v = d[n]
                args[n] = _frozen(v) if isinstance(v, list) else v
        if len(args) + 1 != len(d):  # (a field that is not the op's: every name of `d` not taken, but kind)
            unknown = set(d) - set(names) - {"kind"}
            if unknown:
                raise ValueError(f"operation {kind} has unknown fields {', '.join(sorted(unknown))}")
        try:
            op = cls(**args)
        except TypeError as e:
            raise ValueError(f"operation {kind}: {e}") from None
        op.validate()
        op.__dict__["_read_from"] = d
        return op

    def validate(self) -> None:
        """Check the field types of an op read back from a file (ValueError when one is wrong)."""
        d = self.__dict__
        for name, kinds, nullable, word in _checks(type(self)):
            v = d[name]
            if v is None:
                if not nullable:
                    raise ValueError(f"operation {self.kind}: {name} may not be null")
            elif kinds is not None and (not isinstance(v, kinds) or (kinds is int and isinstance(v, bool))):
                raise ValueError(f"operation {self.kind}: {name} must be {word}")
        if isinstance(getattr(self, "saved", None), tuple):  # a dict read back as pairs
            object.__setattr__(self, "saved", dict(self.saved))
