"""A seeded short run of bench/fuzz.py (the long run is documented in docs/reliability.md)."""

from __future__ import annotations

import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def test_seeded_fuzz_through_check_plan_up_and_down():
    spec = importlib.util.spec_from_file_location("fuzz", os.path.join(HERE, "..", "..", "bench", "fuzz.py"))
    fuzz = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fuzz)
    stats = fuzz.run(3000, seed=7)
    assert stats.inputs == 3000
    assert stats.clean > 100 and stats.applied > 50  # the mutations reach the planner and executor too
