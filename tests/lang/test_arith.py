"""`${EXPR}` arithmetic (`pipenet.lang.arith`): the same answers and the same errors, every time.

Each expression's tokens are read once and kept (a loop interpolates the same
few expressions thousands of times), and `${NAME}` alone skips the parser:
what is kept must never change an answer or swallow an error.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from pipenet.lang.arith import ArithError, evaluate


def _vars(values):
    def lookup(name, offset):
        if name not in values:
            raise ArithError(f"`{name}` is not defined", offset)
        return values[name]
    return lookup


def test_a_name_alone_is_its_value_text_or_number():
    """(Blanks around it are skipped, after it too: `${ i }` was refused until 2026-11-30.)"""
    look = _vars({"net": "10.1", "i": 7})
    assert evaluate("net", look) == "10.1"
    assert evaluate(" i ", look) == 7
    assert evaluate("i", _vars({"i": 8})) == 8  # the kept tokens, another value


def test_the_same_expression_with_other_values():
    for b in range(3):
        for i in range(1, 4):
            assert evaluate("b * 1000 + i", _vars({"b": b, "i": i})) == b * 1000 + i


@pytest.mark.parametrize("text, message, offset", [
    ("net + 1", "a text variable cannot be used in arithmetic", 4),
    ("x", "`x` is not defined", 0),
    ("1 / 0", "division by zero", 2),
    ("(1 + 2", "a closing ) is missing", 6),
    ("1 $ 2", "`$` is not allowed", 2),
    ("", "empty ${}", 0),
    ("  ", "empty ${}", 0),
])
def test_an_error_is_raised_every_time_at_its_place(text, message, offset):
    for _ in range(3):  # (an error is never kept as an answer)
        with pytest.raises(ArithError) as e:
            evaluate(text, _vars({"net": "10.1"}))
        assert message in str(e.value) and e.value.offset == offset


@settings(max_examples=300, deadline=None)
@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(1, 9))
def test_answers_are_those_of_integer_arithmetic(a, b, c):
    look = _vars({"a": a, "b": b, "c": c})
    assert evaluate("a + b * c", look) == a + b * c
    assert evaluate("(a - b) % c", look) == (a - b) - c * int((a - b) / c)
    assert evaluate("-a / c", look) == int(-a / c)


def test_blanks_inside_an_interpolation_in_a_file():
    from pipenet.lang.load import analyse

    topo, diags, _ = analyse("topology t\nlet i = 3\ncontainer a${ i }\ncontainer b${i + 1 }\n", "t.pn")
    assert not diags and [c.name for c in topo.containers] == ["a3", "b4"]
