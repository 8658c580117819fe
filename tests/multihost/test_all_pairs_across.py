"""All-pairs expectations in a topology across machines: each pair is checked on its source's machine,
aimed at the address of a target elsewhere, and the coordinator's report gives each pair back its names
and sums the statement up as on one machine."""

from __future__ import annotations

import json

import jsonschema

from pipenet import schemas
from pipenet.plan.slice import slice_for

from tests.multihost.test_across import SPAN, three  # noqa: F401 (the fixture)
from tests.multihost.test_slice import SPAN as SLICED, load

PAIRS = SPAN.replace("expect a can reach b\n", "expect all of * can reach all of *\n")


def test_a_slice_has_the_pairs_of_its_own_sources():
    t = load(SLICED + "expect all of * can reach all of *\n")
    m1, m2, local = (slice_for(t, m) for m in ("m1", "m2", "local"))
    assert [e.describe() for e in m1.expectations if e.statement] == ["a can reach 10.70.0.3", "a can reach 10.70.0.4"]
    assert [e.describe() for e in local.expectations if e.statement] == ["c can reach 10.70.0.2", "c can reach 10.70.0.3"]
    assert [e.statement.describe() for e in m2.expectations if e.statement] == ["all of * can reach all of *"] * 2


def test_all_pairs_across_three_machines(three, tmp_path):  # noqa: F811
    path = tmp_path / "span.pn"
    path.write_text(PAIRS)
    assert three.coordinator("up", str(path)).returncode == 0
    try:
        r = three.coordinator("test", str(path), "--json")
        assert r.returncode == 0, r.stdout + r.stderr
        got = json.loads(r.stdout)
        jsonschema.validate(got, schemas.load("pipenet/test/v2"))
        assert (got["passed"], got["failed"]) == (8, 0), got
        pairs = [(x["source"], x["target"]) for x in got["results"] if "statement" in x]
        assert pairs == [("a", "b"), ("a", "c"), ("b", "a"), ("b", "c"), ("c", "a"), ("c", "b")]  # file order
        assert [x["expectation"] for x in got["results"]][:2] == ["a can reach b", "a can reach c"]
        assert [(m["expectation"], m["pairs"], m["sources"]) for m in got["all_pairs"]] == [
            ("all of * can reach all of *", 6, ["a", "b", "c"])]
    finally:
        assert three.coordinator("down", "span").returncode == 0
