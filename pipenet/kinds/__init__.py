"""Interface kinds: one module per kind, and the registry that lists them.

An interface of a container is of one kind (MODULES lists them: a bridge
`port`, a veth pair whose other end is a port of a bridge, `dummy`, and so
on). Everything pipenet knows about a kind lives in its module, as one
`Kind` (`pipenet.kinds.base`, which lists the hooks): how the words of its
statement become the IR, what validation it adds, how it is addressed and
drawn, the operation it compiles to, its netlink request (IFLA_INFO_DATA)
and `ip` command, and the kernel feature it needs with its probe. The front
end, validation, allocation, the graph, the compiler and the operations ask
this registry; none tests a kind's name. The backends sit below it and never
import it: an operation hands the kernel backend its kind's module, and this
registry gives the backends each optional kind's feature and probe as it
loads (`pipenet.backends.features.register`).

Adding a kind: a grammar rule for its words (an alternative of
`_iface_part` in pipenet/grammar/pipenet.lark), its module here, its name in
MODULES, its documentation (docs/language.md) and its tests.
"""

from __future__ import annotations

from importlib import import_module

from pipenet.backends import features as _features
from pipenet.kinds.base import Edge, Kind

#: the kinds, by module name, in the order hints list them
MODULES = ("port", "dummy", "macvlan", "vlan", "vxlan")

#: every kind by its IR name (`Interface.kind`)
KINDS: dict[str, Kind] = {}
for _module in MODULES:
    _kind = import_module(f"{__name__}.{_module}").KIND
    KINDS[_kind.name] = _kind

_BY_RULE = {k.rule: k for k in KINDS.values()}
for _kind in KINDS.values():  # the backends learn each optional kind's feature and probe from here
    if _kind.link_kind is not None and _kind.feature:
        _features.register(_kind.link_kind, _kind.feature, _kind.probe)
_BY_LINK_KIND = {k.link_kind: k for k in KINDS.values() if k.link_kind is not None}

__all__ = ["Edge", "KINDS", "Kind", "MODULES", "after_words", "by_link_kind", "by_rule", "features"]


def by_rule(rule: str) -> Kind | None:
    """The kind a part of an `interface` statement declares (by its grammar rule), or None for a common part."""
    return _BY_RULE.get(rule)


def by_link_kind(link_kind: str) -> Kind | None:
    """The kind whose interfaces the kernel calls `link_kind` (IFLA_INFO_KIND), if pipenet makes that kind."""
    return _BY_LINK_KIND.get(link_kind)


def features() -> dict[str, str]:
    """{link kind: the kernel configuration it needs, in words} for the kinds not every kernel has."""
    return {k.link_kind: k.feature for k in KINDS.values() if k.link_kind is not None and k.feature}


def after_words() -> dict[str, str]:
    """What a syntax error says is expected after each kind's keywords."""
    out: dict[str, str] = {}
    for k in KINDS.values():
        out.update(k.after)
    return out
