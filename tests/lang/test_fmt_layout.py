"""`pipenet fmt` keeps short one-line blocks on one line (the README's own style), and only those."""

from __future__ import annotations

import glob
import os
import re

import pytest

from pipenet.lang import load_text
from pipenet.lang.fmt import MAX_WIDTH, format_text

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.pn")))


def test_the_readmes_block_is_left_as_written():
    readme = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"```pipenet\n(# docker0, the way.*?)```", readme, re.S).group(1)
    assert "container web { net docker0; hostname www.example.com }" in block
    out = format_text(block).splitlines()
    assert "container web { net docker0; hostname www.example.com }" in out
    assert "container db { net docker0; address 172.17.0.100 }" in out  # one space between words
    assert load_text(format_text(block), "t.pn") == load_text(block, "t.pn")


@pytest.mark.parametrize("src,want", [
    ("container a {net none;hostname x}   # keep me\n", "container a { net none; hostname x }  # keep me\n"),
    ("bridge b { }\n", "bridge b {}\n"),
    ("bridge b { ; address 10.0.0.1/24 ; }\n", "bridge b { address 10.0.0.1/24 }\n"),
    # a block inside: the outer block goes over lines, the inner one stays
    ("bridge x\nfor i in 1..3 { container h${i} { net x } }\n",
     "bridge x\nfor i in 1..3 {\n    container h${i} { net x }\n}\n"),
    # written over several lines: stays over several lines
    ("container a {\n    net none\n}\n", "container a {\n    net none\n}\n"),
    # a comment inside cannot stay on the line
    ("container a { net none  # why\n}\n", "container a {\n    net none  # why\n}\n"),
], ids=["readme-style", "empty", "stray-semicolons", "nested", "multi-line", "comment"])
def test_one_line_blocks(src, want):
    out = format_text(src)
    assert out == want
    assert format_text(out) == out
    assert load_text(out, "t.pn") == load_text(src, "t.pn")


def test_a_block_too_wide_for_one_line_goes_over_lines():
    stmts = "; ".join(f"add-host h{i}.example.com 10.0.0.{i}" for i in range(1, 4))
    src = f"container a {{ {stmts} }}\n"
    assert len(src) - 1 > MAX_WIDTH
    out = format_text(src)
    assert out.splitlines()[0] == "container a {" and len(out.splitlines()) == 5
    fits = "container a { " + "; ".join(f"add-host h{i}.example.com 10.0.0.{i}" for i in range(1, 3)) + " }\n"
    assert len(fits) - 1 <= MAX_WIDTH and format_text(fits) == fits


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_examples_round_trip(path):
    text = open(path).read()
    assert format_text(text, path) == text
    one_line = re.sub(r"\{\n\s*([^{}\n#]*)\n\s*\}", r"{ \1 }", text)  # fold one-statement blocks by hand
    assert load_text(format_text(one_line, path), path) == load_text(text, path)
