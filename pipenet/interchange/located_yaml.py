"""YAML with the place of every value, for converters whose messages must point into the file.

`yaml.safe_load` forgets where things were written. Here the file is composed
into YAML's own nodes (which keep their marks) and each becomes a `Y`: its
plain value (a dict of `Y`, a list of `Y`, or a scalar built by the safe
constructor, so `80` is an int and `true` a bool), the span of the value,
the span of its key when it is a mapping's value, and the scalar's text as
written (`3` stays `3`, never `3.0`). Anchors, aliases and `<<` merge keys
work as in `safe_load`, but a file whose aliases expand to more than
MAX_VALUES values (a "billion laughs") is refused, located, instead of
filling the memory. A file nested deeper than MAX_DEPTH (no real lab is
more than a handful of levels deep) is refused, located, instead of running
the YAML composer out of stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from pipenet.diagnostics import Diagnostic
from pipenet.errors import InvalidTopology
from pipenet.source import Span

#: how many values a file may expand to, aliases counted each time they are used
MAX_VALUES = 200_000
#: how deep mappings and lists may nest (a containerlab file needs about six levels)
MAX_DEPTH = 64


@dataclass
class Y:
    value: Any
    span: Span
    key: Span | None = None  # where its key was written, when it is a mapping's value
    raw: str | None = None  # a scalar's text as written

    @property
    def at(self) -> Span:
        """Where a message about this field points: its key when it has one."""
        return self.key or self.span

    def get(self, name: str) -> Y | None:
        return self.value.get(name) if isinstance(self.value, dict) else None

    @property
    def text(self) -> str:
        """A scalar as text, as written (`~`/null is the empty string; a list or a mapping says which it is)."""
        if self.value is None:
            return ""
        if isinstance(self.value, (dict, list)):
            return "<a mapping>" if isinstance(self.value, dict) else "<a list>"
        return self.raw if self.raw is not None else str(self.value)


def _span(file: str, node: yaml.Node) -> Span:
    s, e = node.start_mark, node.end_mark
    if e.line != s.line:
        e = s.__class__(s.name, s.index, s.line, s.column + 1, s.buffer, s.pointer)
    return Span(file, s.line + 1, s.column + 1, e.line + 1, max(e.column, s.column + 1) + 1)


def load(text: str, file: str) -> Y:
    """The document of `text`, located; InvalidTopology (located) when it is not one YAML document."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise InvalidTopology([Diagnostic("the file is empty", Span(file, 0, 0, 0, 0),
                                              "a containerlab topology has `name:` and `topology:`")])
        return _wrap(loader, node, file, set(), [MAX_VALUES])
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise InvalidTopology([Diagnostic(f"not YAML: {e.problem or e.context}", Span(file, line, col, line, col + 1))],
                              ) from None
    except yaml.YAMLError as e:
        raise InvalidTopology([Diagnostic(f"not YAML: {e}", Span(file, 0, 0, 0, 0))]) from None
    except RecursionError:  # PyYAML's composer recurses once per level: find the place with its flat parser
        raise InvalidTopology([_too_deep(_deepest(text, file))]) from None
    finally:
        loader.dispose()


def _too_deep(span: Span) -> Diagnostic:
    return Diagnostic(f"values nested more than {MAX_DEPTH} deep", span,
                      "a containerlab topology nests a few levels (topology: nodes: NAME: ...)")


def _deepest(text: str, file: str) -> Span:
    """Where the nesting first goes past MAX_DEPTH, read with PyYAML's event parser (a loop, not a recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                m = event.start_mark
                return Span(file, m.line + 1, m.column + 1, m.line + 1, m.column + 2)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return Span(file, 1, 1, 1, 2)


def _wrap(loader: yaml.SafeLoader, node: yaml.Node, file: str, seen: set, budget: list[int],
          key: Span | None = None) -> Y:
    span = _span(file, node)
    if len(seen) >= MAX_DEPTH:
        raise InvalidTopology([_too_deep(span)])
    budget[0] -= 1
    if budget[0] < 0:
        raise InvalidTopology([Diagnostic(f"the file expands to more than {MAX_VALUES:,} values", span,
                                          "are YAML aliases (*name) repeating each other?")])
    if isinstance(node, yaml.MappingNode):
        if id(node) in seen:  # an alias of a mapping that contains itself
            raise InvalidTopology([Diagnostic("a YAML alias refers to itself", span)])
        loader.flatten_mapping(node)
        items: dict[str, Y] = {}
        inner = seen | {id(node)}
        for k, v in node.value:
            name = loader.construct_object(k, deep=True)
            items[str(name)] = _wrap(loader, v, file, inner, budget, _span(file, k))
        return Y(items, span, key)
    if isinstance(node, yaml.SequenceNode):
        if id(node) in seen:
            raise InvalidTopology([Diagnostic("a YAML alias refers to itself", span)])
        inner = seen | {id(node)}
        return Y([_wrap(loader, v, file, inner, budget) for v in node.value], span, key)
    return Y(loader.construct_object(node, deep=True), span, key, node.value)
