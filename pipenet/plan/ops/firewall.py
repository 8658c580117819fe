"""Firewall rules: one table of one namespace, in chains the topology owns.

The chains are named after the whole topology name (`pipenet.plan.firewall.
chain_base`), every rule in them and every jump to them carries the comment
`pipenet:TOPOLOGY`, and the whole table is written by one `iptables-restore`
(atomic). A chain of pipenet's name whose rules do not all carry that
comment is someone else's: never flushed, never deleted. After an install
the rules are read back as `iptables-save` prints them and kept in `saved`,
so the live check compares like with like. An IPv6 table (`ip6:filter`,
`ip6:nat`) is the same with ip6tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pipenet.plan.firewall import bare_table
from pipenet.plan.ops.base import OK, Op, changed, foreign, in_ns_cmd, missing


def tagged(rule: str, tag: str) -> bool:
    """Does an `iptables-save` rule carry pipenet's comment `tag`?"""
    return f'--comment "{tag}"' in rule or rule.endswith(f"--comment {tag}") or f"--comment {tag} " in rule


@dataclass
class Firewall(Op):
    kind: ClassVar[str] = "firewall"
    anywhere: ClassVar[bool] = True  # (its check reads `iptables-save`, no interface)
    undo_alongside: ClassVar[bool] = True  # (iptables-restore: nfnetlink, not the RTNL lock)
    repairable: ClassVar[bool] = True
    learns: ClassVar[bool] = True
    node: str
    ns: str
    table: str
    tag: str
    chains: tuple = ()  # ((name, (rule, ...)), ...): each rule already carries the tag
    jumps: tuple = ()  # ((builtin, match, chain), ...)
    saved: dict = field(default_factory=dict)

    @property
    def key(self):
        return f"firewall:{self.node}:{self.table}"

    @property
    def parents(self):
        return (f"netns:{self.node}",) if self.node != "host" else ()

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.chains]

    def prepare(self, k):
        self.saved = {"existed": k.firewall_table_exists(self.ns, self.table),
                      "builtins": sorted(k.firewall_builtins(self.ns, self.table))}

    def apply(self, k):
        canonical = k.firewall_install(self.ns, self.table, {c: list(r) for c, r in self.chains},
                                       [tuple(j) for j in self.jumps], self.tag)
        self.saved = dict(self.saved, canonical=canonical)

    def undo(self, k):
        if k.netns_exists(self.ns):
            k.firewall_remove(self.ns, self.table, self.names, [tuple(j) for j in self.jumps], self.tag,
                              drop_table=self.saved.get("existed") is False,
                              builtins_before=self.saved.get("builtins"))

    def check(self, view):
        section = view.firewall(self.ns).get(self.table)
        chains = section.chains if section is not None else {}
        present = {c: chains[c] for c in self.names if c in chains}
        canonical = self.saved.get("canonical") or {}
        for c, rules in present.items():
            if (not rules and c not in canonical) or any(not tagged(r, self.tag) for r in rules):
                where = "the host" if self.ns == "" else self.ns
                return foreign(f"a chain named {c} exists in the {self.table} table of {where} and pipenet did "
                               f"not make it (its rules do not carry the comment {self.tag})")
        jumps = [j for j in self.jumps if section is None or not section.has_jump(j[0], j[2], self.tag)]
        if not present and len(jumps) == len(self.jumps):
            return missing(f"{self.table} rules of {self.node}")
        gone = [c for c in self.names if c not in present]
        differ = [c for c in present if canonical and present[c] != canonical.get(c)]
        if not canonical and present:
            differ = [c for c in present]  # never read back: the install makes them exact
        if gone or differ or jumps:
            what = ([f"chain {c} is missing" for c in gone] + [f"chain {c} differs" for c in differ]
                    + [f"the jump from {j[0]} to {j[2]} is missing" for j in jumps])
            observed = {"chains": {c: list(present[c]) if c in present else None for c in self.names},
                        "jumps_missing": [list(j) for j in jumps]}
            return changed(f"{self.table} rules of {self.node}: " + ", ".join(what), "the rules pipenet wrote",
                           "; ".join(what), observed)
        return OK

    def blockers(self, view) -> list[str]:
        """Rules pipenet did not write that jump to its chains (they would make removing them fail)."""
        section = view.firewall(self.ns).get(self.table)
        if section is None:
            return []
        ours = set(self.names)
        out = []
        for chain, rules in section.chains.items():
            for r in rules:
                words = r.split()
                target = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "-g")), None)
                if target in ours and not tagged(r, self.tag):
                    where = "the host" if self.ns == "" else self.ns
                    out.append(f"a rule in chain {chain} of the {self.table} table of {where} jumps to pipenet's "
                               f"chain {target} and pipenet did not write it (`-A {chain} {r}`): remove it first")
        return out

    def repair(self, k, observed):
        canonical = k.firewall_install(self.ns, self.table, {c: list(r) for c, r in self.chains},
                                       [tuple(j) for j in self.jumps], self.tag)
        self.saved = dict(self.saved, canonical=canonical)

    def unrepair(self, k, observed):
        k.firewall_restore(self.ns, self.table, observed.get("chains", {}),
                           [tuple(j) for j in observed.get("jumps_missing", [])], self.tag)

    def _cmd(self, *args):
        table, family = bare_table(self.table)
        return in_ns_cmd(self.ns, "iptables" if family == 4 else "ip6tables", "-w", "-t", table, *args)

    def describe(self):
        out = [self._cmd("-N", c) for c, _ in self.chains]
        for c, rules in self.chains:
            out += [f"{self._cmd('-A', c)} {r}" for r in rules]
        for builtin, match, chain in self.jumps:
            m = f"{match} " if match else ""
            out.append(f"{self._cmd('-I', builtin, '1')} {m}-m comment --comment {self.tag} -j {chain}")
        return out

    def describe_undo(self):
        out = []
        for builtin, match, chain in self.jumps:
            m = f"{match} " if match else ""
            out.append(f"{self._cmd('-D', builtin)} {m}-m comment --comment {self.tag} -j {chain}")
        out += [self._cmd("-F", c) for c, _ in self.chains] + [self._cmd("-X", c) for c, _ in self.chains]
        return out

    def describe_repair(self, observed):
        out = [self._cmd("-F", c) for c, r in observed.get("chains", {}).items() if r is not None]
        out += [self._cmd("-N", c) for c, r in observed.get("chains", {}).items() if r is None]
        for c, rules in self.chains:
            out += [f"{self._cmd('-A', c)} {r}" for r in rules]
        for builtin, match, chain in observed.get("jumps_missing", []):
            m = f"{match} " if match else ""
            out.append(f"{self._cmd('-I', builtin, '1')} {m}-m comment --comment {self.tag} -j {chain}")
        return out
