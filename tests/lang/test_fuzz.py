"""Random text and mutations of valid files go through the front end: diagnostics, never a traceback."""

from __future__ import annotations

import glob
import os

from hypothesis import HealthCheck, given, settings, strategies as st

from pipenet.diagnostics import render
from pipenet.lang import analyse
from pipenet.lang.fmt import format_text
from pipenet.errors import InvalidTopology

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = [open(p).read() for p in sorted(glob.glob(os.path.join(HERE, "..", "..", "examples", "*.pn")))]
ALPHABET = "abcxyz019 .:/-_${}+*()\"\\#;\n=%\t@!'"
WORDS = ["bridge", "container", "p2p", "--", "{", "}", ";", "\n", "net", "address", "10.0.0.1/24", "${n}",
         "for", "in", "1..3", "let", "=", "route", "via", "default", "expect", "can", "reach", "host", "eth0",
         "a:eth0", "publish", "8080:80", "interface", "on", "dummy", "link", "as", '"x"', "run", "mtu", "0"]


def _no_traceback(text: str) -> None:
    topo, diags, sources = analyse(text, "fuzz.pn")
    render(diags, sources)
    assert topo is not None or diags
    try:
        format_text(text, "fuzz.pn")
    except InvalidTopology:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALPHABET, max_size=200))
def test_random_text(text):
    _no_traceback(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join))
def test_random_statements(text):
    _no_traceback(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXAMPLES), st.integers(min_value=0), st.integers(min_value=0, max_value=30),
       st.text(alphabet=ALPHABET, max_size=8))
def test_mutated_examples(src, pos, cut, insert):
    pos = pos % (len(src) + 1)
    _no_traceback(src[:pos] + insert + src[pos + cut:])
