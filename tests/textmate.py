"""A small TextMate tokenizer for the tests: enough of what VS Code and GitHub do to check a grammar.

It runs the grammar's `match`, `begin`/`end`, `captures`, `patterns` and `include` (`#name`, `$self`) one
line at a time with Oniguruma, the regular-expression engine the editors use (through onigurumacffi),
choosing as they do: the leftmost match wins, then the earliest rule, with a rule's `end` before its
own patterns. What it leaves out (`while`, back-references in `end`, injections, other grammars) pipenet's
grammar does not use; `unsupported` names any that appears, so a test fails instead of misreading it.
"""

from __future__ import annotations

from functools import lru_cache

import onigurumacffi

SUPPORTED = {"match", "name", "captures", "begin", "end", "beginCaptures", "endCaptures", "patterns",
             "include", "comment"}


@lru_cache(maxsize=None)
def _regset(*patterns: str):
    return onigurumacffi.compile_regset(*patterns)


class TextMate:
    def __init__(self, grammar: dict):
        self.grammar = grammar
        self.root = grammar["scopeName"]

    def rules(self, patterns: list[dict]) -> list[dict]:
        """`patterns` with every include replaced by the rules it names."""
        out = []
        for p in patterns:
            if "include" in p:
                ref = p["include"]
                grammar = self.grammar
                target = {"patterns": grammar["patterns"]} if ref == "$self" else grammar["repository"][ref[1:]]
                out += [target] if "match" in target or "begin" in target else self.rules(target["patterns"])
            else:
                out.append(p)
        return out

    def unsupported(self) -> set[str]:
        keys: set[str] = set()

        def walk(rule):
            keys.update(rule)
            for p in rule.get("patterns", ()):
                walk(p)
        for rule in [*self.grammar["patterns"], *self.grammar["repository"].values()]:
            walk(rule)
        return keys - SUPPORTED

    def scopes(self, text: str) -> list[list[tuple[str, ...]]]:
        """For each line of `text`, the scopes of each of its characters (outermost first)."""
        stack = [(None, self.rules(self.grammar["patterns"]), (self.root,))]
        lines = []
        for line in text.split("\n"):
            chars = [(self.root,)] * len(line)
            pos = 0
            while pos < len(line):
                rule, rules, names = stack[-1]
                ends = [rule["end"]] if rule else []
                index, m = _regset(*ends, *(r.get("match") or r["begin"] for r in rules)).search(line, pos)
                chars[pos:m.start() if m else len(line)] = [names] * ((m.start() if m else len(line)) - pos)
                if m is None:
                    break
                if ends and index == 0:
                    self._paint(chars, m, names, rule.get("endCaptures"))
                    stack.pop()
                else:
                    found = rules[index - len(ends)]
                    inner = names + ((found["name"],) if "name" in found else ())
                    self._paint(chars, m, inner, found.get("captures") or found.get("beginCaptures"))
                    if "begin" in found:
                        stack.append((found, self.rules(found.get("patterns", [])), inner))
                pos = max(m.end(), pos + 1)
            lines.append(chars)
        return lines

    @staticmethod
    def _paint(chars, m, names, captures):
        for i in range(m.start(), m.end()):
            chars[i] = names
        for group, capture in (captures or {}).items():
            start, end = m.span(int(group))
            for i in range(max(start, 0), max(end, 0)):
                chars[i] = chars[i] + (capture["name"],)
