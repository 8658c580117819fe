"""The registry of interface kinds: each kind is whole in its module, and the stages ask the registry."""

from __future__ import annotations

import pytest

from pipenet import kinds
from pipenet.backends.features import FEATURES
from pipenet.backends.recording import RecordingKernel
from pipenet.lang import analyse, load_text
from pipenet.lang.parser import _lark, keywords
from pipenet.plan.compile import compile_topology
from pipenet.plan.diff import diff
from pipenet.plan.ops import AddLink, Op

COMMON_PARTS = {"address", "mac", "mtu", "host_name"}


def test_every_kind_is_declared_by_a_rule_of_the_grammar_and_every_rule_is_a_kind_or_common():
    rules = [r.expansion[0].name for r in _lark().rules if r.origin.name == "_iface_part"]
    assert {k.rule for k in kinds.KINDS.values()} == set(rules) - COMMON_PARTS
    assert [kinds.by_rule(r).name for r in rules if r not in COMMON_PARTS] == list(kinds.KINDS)
    assert kinds.by_rule("address") is None


def test_each_link_kind_names_its_kernel_feature_and_the_features_table_is_the_registrys():
    for k in kinds.KINDS.values():
        if k.link_kind is not None:
            assert kinds.by_link_kind(k.link_kind) is k
            assert FEATURES[k.link_kind] == k.feature and k.feature.startswith("CONFIG_")
    assert FEATURES["dummy"] == "CONFIG_DUMMY (dummy interfaces)"  # unchanged for the kinds there were
    assert {"netem", "tbf"} <= set(FEATURES)


def test_the_words_after_a_kinds_keywords_never_contradict_each_other():
    seen: dict[str, str] = {}
    for k in kinds.KINDS.values():
        for word, text in k.after.items():
            assert seen.setdefault(word, text) == text, word
            assert word in keywords("_iface_part") or word in _grammar_words()


def _grammar_words() -> set[str]:
    return {t.pattern.value for t in _lark().terminals if type(t.pattern).__name__ == "PatternStr"}


def test_hints_list_the_registrys_kinds():
    _t, diags, _ = analyse("container a { interface eth1 address 10.0.0.1/24 }\n", "t.pn")
    [d] = diags
    assert d.message == "interface `eth1` needs a kind"
    for k in kinds.KINDS.values():
        assert f"`{k.usage}`" in d.hint
    _t, diags, _ = analyse("bridge s\ncontainer a { interface e dummy on s }\n", "t.pn")
    [d] = [d for d in diags if "more than one kind" in d.message]
    assert (d.span.line, d.span.column) == (2, 33)
    assert d.hint == "an interface is one of: " + ", ".join(k.short for k in kinds.KINDS.values())


def test_a_second_kind_does_not_change_the_first_kinds_interface():
    topo, _diags, _ = analyse("container a { interface e0 dummy; interface v vlan 5 of e0 macvlan of host:x }\n", "t.pn")
    v = topo.container_map["a"].interface("v")
    assert (v.kind, v.parent, v.parent_node, v.settings.id) == ("vlan", "e0", None, 5)


def test_a_kinds_settings_reach_the_kernel_through_the_operation():
    t = load_text("topology k\ncontainer a {\n  interface e0 dummy\n  interface mv macvlan of e0 mode vepa\n}\n", "k.pn")
    ops, _ = compile_topology(t)
    mv = next(o for o in ops if isinstance(o, AddLink) and o.name == "mv")
    assert mv.settings == {"mode": "vepa"}
    assert "type macvlan mode vepa" in mv.describe()[0] and "link e0" in mv.describe()[0]
    back = Op.from_json(mv.to_json())  # the record keeps them as plain data
    assert back.settings == {"mode": "vepa"} and back.identity() == mv.identity()
    k = RecordingKernel(features={"dummy", "macvlan"})
    for op in ops:
        op.apply(k)
    assert k.state["ns"]["k@a"]["links"]["mv"]["parent"] == "e0"
    assert ("link_add", "k@a", "mv", "macvlan") in k.calls


def test_an_old_record_without_the_newer_fields_reads_as_the_same_operation():
    t = load_text("topology k\ncontainer a {\n  interface e0 dummy\n  interface v vlan 7 of e0\n}\n", "k.pn")
    ops, _ = compile_topology(t)
    v = next(o for o in ops if isinstance(o, AddLink) and o.name == "v")
    old = {n: x for n, x in v.to_json().items() if n not in ("options", "parent_key")}  # as written before them
    assert Op.from_json(old).identity() == v.identity()
    assert diff(ops, [Op.from_json(o.to_json()) if o is not v else Op.from_json(old) for o in ops]).empty


@pytest.mark.parametrize("order", ["parent first", "parent last"])
def test_an_interface_is_made_after_the_one_it_is_made_on(order):
    parent, child = "interface e0 dummy", "interface mv macvlan of e0"
    lines = [parent, child] if order == "parent first" else [child, parent]
    ops, _ = compile_topology(load_text("topology k\ncontainer a {\n  " + "\n  ".join(lines) + "\n}\n", "k.pn"))
    names = [o.name for o in ops if isinstance(o, AddLink)]
    assert names == ["e0", "mv"]


def test_an_interface_made_on_a_p2p_end_comes_after_the_pair_and_goes_with_it():
    src = ("topology k\ncontainer a\ncontainer b {{ interface v vlan 5 of u0 }}\n"
           "p2p a:u0 10.0.0.1/30 -- b:u0 10.0.0.2/30{}\n")
    ops, _ = compile_topology(load_text(src.format(""), "k.pn"))
    kinds_in_order = [o.kind for o in ops]
    v = next(o for o in ops if isinstance(o, AddLink))
    pair = next(o for o in ops if o.kind == "veth")
    assert kinds_in_order.index("veth") < ops.index(v)
    assert pair.key == "link:a:u0" and v.parents == ("netns:b", "link:a:u0")  # b:u0 lives on a's pair
    changed, _ = compile_topology(load_text(src.format(" { mtu 1400 }"), "k.pn"))
    plan = diff(changed, ops)
    assert ("apply", "v") in [(s.action, getattr(s.op, "name", None)) for s in plan.steps]  # made again with it
