"""The keywords the expander knows in each block come from the grammar, not from a list of its own."""

from __future__ import annotations

from lark import Lark

from pipenet.lang import analyse
from pipenet.lang.parser import grammar_text, keywords, rule_keywords


def test_each_blocks_keywords_are_the_grammars_in_its_order():
    assert keywords("_top") == ("topology", "let", "hosts", "bridge", "container", "p2p", "defaults", "for",
                                "expect", "host", "machine")
    assert keywords("_bridge_stmt") == ("address", "pool", "pool6", "mtu", "icc", "masquerade", "external", "machine")
    assert keywords("_host_stmt") == ("route", "forwarding", "masquerade", "sysctl")
    assert keywords("_p2p_stmt") == ("mtu", "delay", "jitter", "loss", "rate")
    # `net` and `net container`, `masquerade out` and `masquerade`: each word once
    container = keywords("_container_stmt")
    assert container.count("net") == 1 and container.count("masquerade") == 1
    assert container[:3] == ("hostname", "net", "address") and container[-4:] == ("attach", "file", "private",
                                                                                   "machine")


def test_an_unknown_keyword_lists_exactly_the_grammars_keywords():
    _topo, diags, _ = analyse("container a\ncontainer b\np2p a:e0 -- b:e0 { zzzz 1 }\n", "t.pn")
    [d] = [d for d in diags if "unknown keyword `zzzz`" in d.message]
    assert d.hint == "known here: " + ", ".join(keywords("_p2p_stmt"))


def test_a_statement_added_to_the_grammar_is_known_without_another_list():
    text = grammar_text().replace("_p2p_stmt: mtu |", "_p2p_stmt: mtu | weight |") + '\n!weight: "weight" WORD\n'
    parser = Lark(text, parser="lalr", lexer="contextual")
    assert rule_keywords(parser, "_p2p_stmt") == ("mtu", "weight", "delay", "jitter", "loss", "rate")
