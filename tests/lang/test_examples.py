"""Every bundled example checks clean and is already in canonical layout."""

from __future__ import annotations

import glob
import os

import pytest

from pipenet.lang import analyse
from pipenet.diagnostics import render

EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "*.pn")))


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_checks_clean(path):
    if "/usr/lib/frr/" in open(path).read() and not os.path.isdir("/etc/frr"):
        pytest.skip("FRR is not installed (/etc/frr, the mount point of the routers' own, is missing)")
    topo, diags, sources = analyse(open(path).read(), path)
    assert not diags, render(diags, sources)
    assert topo.containers


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_is_in_canonical_layout(path):
    from pipenet.lang.fmt import format_text

    text = open(path).read()
    assert format_text(text, path) == text, f"run: pipenet fmt {path}"
