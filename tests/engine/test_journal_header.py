"""The journal's header names every step's op in JSON; an op read back from the record is written with
the record's own JSON (`Op.json_form`), not encoded anew, unless what it saved has changed since."""

from __future__ import annotations

import json

from pipenet.engine.journal import Journal, read
from pipenet.plan.diff import Step
from pipenet.plan.ops import Op


def _recorded():
    ns = {"kind": "netns", "node": "a", "ns": "t@a", "owner": "t", "quiet": False, "saved": {"inode": 4026532}}
    addr = Op.from_json(json.loads(json.dumps(
        {"kind": "addr", "node": "a", "ns": "t@a", "ifname": "eth0", "ip": "10.0.0.2", "prefixlen": 24})))
    return ns, Op.from_json(ns), addr


def test_an_op_read_back_is_written_with_the_record_s_json_and_reads_back_the_same(tmp_path):
    doc, op, child = _recorded()
    step = Step("remove", op, [child], "gone from the file")
    assert step.to_json()["op"] is op.__dict__["_read_from"]  # not encoded again
    assert step.to_json()["op"] == doc == op.to_json()  # (the same JSON either way)
    j = Journal(str(tmp_path / "journal"))
    j.begin([step], 3, {}, "down")
    j.f.close()
    back = read(str(tmp_path / "journal"))
    assert [(s.action, s.op.key, [c.key for c in s.implied]) for s in back.steps] == [
        ("remove", "netns:a", [child.key])]
    assert back.steps[0].op.identity() == op.identity() and back.steps[0].op.saved == {"inode": 4026532}


def test_an_op_whose_saved_state_changed_is_encoded_anew():
    _, op, _ = _recorded()
    op.saved = {"inode": 99}
    assert Step("remove", op).to_json()["op"]["saved"] == {"inode": 99}
