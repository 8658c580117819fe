"""`expect all of GLOB can reach all of GLOB` in the language: expanded to every ordered pair in file order
(a node never probes itself), in loops and with variables; located errors for a glob that matches nothing
and the other mistakes; `fmt` keeps it; the matrix text and the results' summary."""

from __future__ import annotations

import pytest

from pipenet import matrix
from pipenet.diagnostics import render
from pipenet.lang import analyse, load_text
from pipenet.lang.fmt import format_text
from pipenet.results import Check, TestReport, tally

LAB = """\
topology lab
bridge br0 { address 10.9.0.1/24 }
for i in 1..3 { container c${i} { net br0 } }
container web { net br0 }
"""


def pairs(text: str) -> list[tuple[str, str]]:
    return [(e.source, str(e.target)) for e in load_text(LAB + text).expectations]


def test_every_ordered_pair_in_file_order_and_never_a_node_with_itself():
    assert pairs("expect all of c* can reach all of c*\n") == [
        ("c1", "c2"), ("c1", "c3"), ("c2", "c1"), ("c2", "c3"), ("c3", "c1"), ("c3", "c2")]
    assert pairs("expect all of c[12] can reach all of ?e?:80/tcp\n") == [("c1", "web:80/tcp"), ("c2", "web:80/tcp")]
    assert pairs("expect all of c[!2] can reach all of [!c]*\n") == [("c1", "web"), ("c3", "web")]  # sets that do not match
    assert pairs("expect all of * cannot reach all of host\n") == [(n, "host") for n in ("c1", "c2", "c3", "web")]
    e = load_text(LAB + "expect all of c* cannot reach all of web* over ipv4 within 5s\n").expectations
    assert {(x.kind, x.family, x.within) for x in e} == {("unreach", 4, 5.0)}
    st = e[0].statement
    assert st is not None and all(x.statement is st for x in e)
    assert st.describe() == "all of c* cannot reach all of web* over ipv4 within 5s"
    assert (st.sources, st.targets, st.span.line) == (("c1", "c2", "c3"), ("web",), 5)


def test_in_a_loop_with_variables_each_iteration_is_a_statement_of_its_own():
    text = "let g = c\nfor i in 1..2 { expect all of ${g}${i} can reach all of * }\n"
    e = load_text(LAB + text).expectations
    assert [(x.source, x.target.node) for x in e] == [("c1", n) for n in ("c2", "c3", "web")] + [
        ("c2", n) for n in ("c1", "c3", "web")]
    assert [x.statement.index for x in e] == [0] * 3 + [1] * 3


def test_a_node_named_all_is_still_a_source_and_a_target():
    e = load_text("topology t\ncontainer all\ncontainer b\nexpect all can reach b\nexpect b can reach all\n").expectations
    assert [(x.source, x.target.node, x.statement) for x in e] == [("all", "b", None), ("b", "all", None)]


@pytest.mark.parametrize("text,line,col,message,hint", [
    ("expect all of x* can reach all of c*\n", 6, 15, "`x*` matches no container", "the containers are c1, c2, c3, web"),
    ("expect all of c* can reach all of wbe*\n", 6, 35, "`wbe*` matches no container", "similar names: web"),
    ("expect all of c1 can reach all of c1\n", 6, 1, "these globs make no pair", "two nodes or more"),
    ("expect some of c* can reach all of c*\n", 6, 8, "expected `all of`, found `some of`", "expect all of GLOB"),
    ("expect all of c*:80 can reach all of c*\n", 6, 15, "`c*:80` is not a glob", "target side only"),
    ("expect all of c* can reach all of c*:99999\n", 6, 35, "", None),
    ("expect all of c* can reach all of c* over ipv5\n", 6, 43, "`ipv5` is not an address family", "over ipv4"),
    ("expect all of c* can reach all of c* within forever\n", 6, 45, "", None),
    ("expect all of\n", 6, 14, "expected a glob of node names like c* or web[1-3]", None),
    ("expect all of c* can reach c*\n", 6, 28, "expected `all`, found `c*`", None),
])
def test_located_errors(text, line, col, message, hint):
    _, diags, sources = analyse(LAB + "\n" + text, "lab.pn")
    assert len(diags) == 1, render(diags, sources)
    d = diags[0]
    assert (d.span.file, d.span.line, d.span.column) == ("lab.pn", line, col), render(diags, sources)
    assert message in d.message
    if hint:
        assert hint in d.hint
    shown = render(diags, sources)
    assert shown.startswith(f"lab.pn:{line}:{col}: error: ") and "^" in shown


def test_too_many_pairs_is_an_error_not_a_hang():
    _, diags, _ = analyse("topology big\nfor i in 1..500 { container n${i} }\nexpect all of n* can reach all of n*\n", "big.pn")
    assert [d.message for d in diags] == ["this statement would make 249,500 pairs"]


def test_fmt_lays_it_out_and_keeps_what_it_means():
    messy = LAB + "expect   all  of c*   can reach all of   c[1-2]:80/tcp   over ipv4 within 2s  # all\n"
    tidy = format_text(messy, "lab.pn")
    assert tidy.endswith("expect all of c* can reach all of c[1-2]:80/tcp over ipv4 within 2s  # all\n")
    assert format_text(tidy, "lab.pn") == tidy
    assert load_text(tidy).expectations == load_text(messy).expectations


def test_nodes_of_one_network_stack_are_never_a_pair():
    """`net container:NAME` shares NAME's network stack (and `net host` the host's): the two are one node of
    the network, so no pair is made of them, either way, through a chain of sharers too."""
    lab = LAB + ("container side { net container:c2 }\ncontainer side2 { net container:side }\n"
                 "container hosted { net host }\n")

    def of(text):
        return [(e.source, str(e.target)) for e in load_text(lab + text).expectations]

    got = of("expect all of * cannot reach all of *\n")
    assert ("side", "c2") not in got and ("c2", "side") not in got and ("side2", "c2") not in got
    assert ("side", "side2") not in got and ("side", "c1") in got and ("c1", "side2") in got
    assert ("hosted", "c1") in got and of("expect all of [ch]* can reach all of host\n") == [
        (n, "host") for n in ("c1", "c2", "c3")]  # (not `hosted`: the host's network is its own)
    for text in ("expect all of side* can reach all of c2\n", "expect all of hosted can reach all of host\n"):
        topo, diags, sources = analyse(lab + text, "t.pn")
        assert [d.message for d in diags] == [
            "these globs make no pair: a node never probes itself, nor a node whose network it shares"]
    # the matrix marks the pairs never probed as it marks a node with itself
    checks = [Check(5, f"{s} can reach {t}", True, "", 0.1, s, t, 0) for s, t in (("c1", "side"), ("side", "c1"))]
    m = tally(checks, [(5, "all of * can reach all of *", ["c1", "c2", "side"], ["c1", "c2", "side"])])[0]
    assert matrix.grid(m)[-3:] == ["c1    - - .", "c2    - - -", "side  . - -"]


def test_the_pairs_are_counted_before_any_is_made_and_hosts_are_per_machine():
    """A statement of millions of pairs is refused before they are made (a typo must cost nothing); two
    `net host` containers on two machines are two networks; sharers alone are told as such."""
    import tracemalloc

    tracemalloc.start()
    topo, diags, sources = analyse("for i in 1..3000 {\n  container c${i} { net none }\n}\n"
                                   "expect all of c* can reach all of c*\n", "t.pn")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [d.message for d in diags] == ["this statement would make 8,997,000 pairs"]
    assert peak < 200 << 20, peak  # (8,997,000 pairs made would take gigabytes)
    two = ("topology two\nmachine m1 { ssh root@10.9.0.1 }\nmachine m2 { ssh root@10.9.0.2 }\n"
           "container a { net host; machine m1 }\ncontainer b { net host; machine m2 }\n")
    made = load_text(two + "expect all of [ab] can reach all of [ab]\n").expectations
    assert [(e.source, str(e.target)) for e in made] == [("a", "b"), ("b", "a")]
    topo, diags, sources = analyse("container a { net none }\ncontainer b { net container:a }\n"
                                   "expect all of [ab] can reach all of [ab]\n", "t.pn")
    assert [d.hint for d in diags] == [
        "the nodes they match share one network (`net container`, `net host`): there is nothing between them to probe"]


def report() -> TestReport:
    m = [("c1", "c2"), ("c1", "c3"), ("c2", "c1"), ("c2", "c3"), ("c3", "c1"), ("c3", "c2")]
    checks = [Check(5, f"{s} can reach {t}", "c3" not in (s, t), "", 0.1, s, t, 0) for s, t in m]
    checks.append(Check(6, "c1 can reach host", True, "", 0.1))
    return TestReport("lab", checks, 1.0, all_pairs=tally(checks, [(5, "all of c* can reach all of c*",
                                                                    ["c1", "c2", "c3"], ["c1", "c2", "c3"])]))


def test_the_summary_the_matrix_and_the_failing_pairs():
    r = report()
    m = r.all_pairs[0]
    assert (m.pairs, m.passed, m.failed) == (6, 2, 4)
    assert m.failures == {"c1": ["c3"], "c2": ["c3"], "c3": ["c1", "c2"]}
    assert matrix.grid(m) == ["    c c c", "    1 2 3", "c1  - . X", "c2  . - X", "c3  X X -"]
    assert matrix.failing(m) == ["  c1, c2 -> c3", "  c3 -> every target"]
    assert matrix.fits(m, 80) and not matrix.fits(m, 9)
    doc = r.to_json()
    assert doc["schema"] == "pipenet/test/v2"
    assert doc["all_pairs"][0]["failures"][2] == {"source": "c3", "targets": ["c1", "c2"]}
    assert doc["results"][0] == {"expectation": "c1 can reach c2", "line": 5, "passed": True, "detail": "",
                                 "seconds": 0.1, "statement": 0, "source": "c1", "target": "c2"}
    single = TestReport("lab", r.results[-1:], 1.0).to_json()
    assert single["schema"] == "pipenet/test/v1" and "all_pairs" not in single  # no all-pairs: version 1


def test_export_to_containerlab_warns_once_for_the_statement(tmp_path):
    import pipenet

    pn = tmp_path / "lab.pn"
    pn.write_text(LAB + "expect all of c* can reach all of c*\nexpect c1 can reach web\n")
    conv = pipenet.export(str(pn))
    assert [f"{w.span.line}: {w.message}" for w in conv.warnings] == [
        "5: `expect all of c* can reach all of c*` is not carried: containerlab has no expectations",
        "6: `expect c1 can reach web` is not carried: containerlab has no expectations"]
