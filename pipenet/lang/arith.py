"""`${EXPR}` interpolation: integer arithmetic over literals and variables.

A tiny recursive-descent evaluator (never Python's eval): `+ - * / %`,
unary minus and parentheses. Division truncates toward zero, as in shell
arithmetic. A variable holding text (`let net = "10.1"`) may be interpolated
on its own (`${net}.1.1`) but not used in arithmetic.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(\S))")  # (blanks around anything are skipped, at the end too)

#: Results are kept within this range, so arithmetic cannot build giant integers.
LIMIT = 10**15
#: An expression may be this long (the evaluator recurses on parentheses).
MAX_LENGTH = 400


class ArithError(ValueError):
    """A problem in an expression; `offset` is the character inside the ${...} text."""

    def __init__(self, message: str, offset: int = 0, hint: str | None = None):
        super().__init__(message)
        self.offset = offset
        self.hint = hint


def evaluate(text: str, lookup: Callable[[str, int], int | str]) -> int | str:
    """Evaluate `text`; `lookup(name, offset)` returns a variable's value or raises ArithError."""
    tokens = _tokens(text)
    if len(tokens) == 1 and tokens[0][0] == "name":  # `${i}`, the most common by far: what atom() does
        return lookup(tokens[0][1], tokens[0][2])
    parser = _Parser(tokens, lookup, len(text))
    value = parser.expr()
    if parser.i < len(tokens):
        kind, val, off = tokens[parser.i]
        raise ArithError(f"unexpected `{val}` in ${{...}}", off)
    return value


@lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[tuple[str, object, int], ...]:
    """The expression's tokens (kind, value, offset), each text read once: a loop's body interpolates
    the same few expressions thousands of times (an error is raised again each time, not kept)."""
    if len(text) > MAX_LENGTH:
        raise ArithError(f"the expression is longer than {MAX_LENGTH} characters", 0,
                         "use variables (let) for the parts")
    if text.count("(") > 100:
        raise ArithError("the expression nests too many parentheses", text.index("("))
    tokens: list[tuple[str, object, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        if m.group(1) is not None:
            tokens.append(("num", int(m.group(1)), m.start(1)))
        elif m.group(2) is not None:
            tokens.append(("name", m.group(2), m.start(2)))
        elif m.group(3) is not None:
            if m.group(3) not in "+-*/%()":
                raise ArithError(f"`{m.group(3)}` is not allowed in ${{...}}", m.start(3),
                                 "only integers, variables, + - * / % and parentheses")
            tokens.append(("op", m.group(3), m.start(3)))
        pos = m.end()
    if not tokens:
        raise ArithError("empty ${}", 0, "write a variable or an expression, e.g. ${n + 1}")
    return tuple(tokens)


class _Parser:
    def __init__(self, tokens, lookup, end):
        self.t, self.lookup, self.i, self.end = tokens, lookup, 0, end

    def _peek(self):
        return self.t[self.i] if self.i < len(self.t) else ("end", None, self.end)

    def _num(self, v, off):
        if isinstance(v, str):
            raise ArithError("a text variable cannot be used in arithmetic", off,
                             "interpolate it on its own, e.g. ${net}.1")
        if abs(v) > LIMIT:
            raise ArithError("number too large", off)
        return v

    def expr(self):
        left = self.term()
        while self._peek()[1] in ("+", "-") and self._peek()[0] == "op":
            _, op, off = self.t[self.i]
            self.i += 1
            right = self._num(self.term(), off)
            left = self._num(left, off)
            left = self._num(left + right if op == "+" else left - right, off)
        return left

    def term(self):
        left = self.unary()
        while self._peek()[0] == "op" and self._peek()[1] in ("*", "/", "%"):
            _, op, off = self.t[self.i]
            self.i += 1
            right = self._num(self.unary(), off)
            left = self._num(left, off)
            if op == "*":
                left = self._num(left * right, off)
            elif right == 0:
                raise ArithError("division by zero", off)
            elif op == "/":
                q = abs(left) // abs(right)
                left = q if (left >= 0) == (right >= 0) else -q
            else:
                left = left - right * int(left / right)
        return left

    def unary(self):
        kind, val, off = self._peek()
        if kind == "op" and val == "-":
            self.i += 1
            return -self._num(self.unary(), off)
        if kind == "op" and val == "+":
            self.i += 1
            return self._num(self.unary(), off)
        return self.atom()

    def atom(self):
        kind, val, off = self._peek()
        if kind == "num":
            self.i += 1
            return self._num(val, off)
        if kind == "name":
            self.i += 1
            return self.lookup(val, off)
        if kind == "op" and val == "(":
            self.i += 1
            v = self.expr()
            k2, v2, o2 = self._peek()
            if not (k2 == "op" and v2 == ")"):
                raise ArithError("a closing ) is missing", o2)
            self.i += 1
            return v
        if kind == "end":
            raise ArithError("the expression ends too early", off)
        raise ArithError(f"unexpected `{val}` in ${{...}}", off)
