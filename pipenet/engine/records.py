"""A record's operations, read back (the one place a record's JSON becomes operations again).

Apart from `session` so that the fast answers (`status`, `up` of an unchanged file) need not load the
executor and the planner to read a record.
"""

from __future__ import annotations

from pipenet.engine.state import StateDir
from pipenet.plan.ops import Op


def recorded_ops(record: dict | None, state: StateDir | None = None) -> list[Op]:
    """The record's ops; one that is not an op makes the record untrustworthy (CorruptState, naming it)."""
    out = []
    for o in (record or {}).get("ops", []):
        try:
            out.append(Op.from_json(o))
        except ValueError as e:
            if state is None:
                raise
            raise state.corrupt(f"holds an operation pipenet cannot read ({e})") from None
    return out
