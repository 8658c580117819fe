"""`up` of an unchanged file answers from the recorded digest of its inputs (pipenet.engine.inputs),
and any change to an input runs the full plan."""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap

from pipenet.engine import inputs

TOPO = """\
topology same
bridge b0 { address 10.77.0.1/24 }
container a { net b0 }
"""

# `up` run in-process, reporting whether the front end (the parser) was needed
PROBE = ("import sys; sys.argv = ['pipenet', {cmd!r}, {path!r}]\n"
         "from pipenet.cli.dispatch import main\n"
         "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
         "print('parsed' if 'pipenet.lang.parser' in sys.modules else 'not parsed')\n")


def probe(netns, path, cmd="up") -> str:
    r = netns.run([sys.executable, "-c", PROBE.format(path=path, cmd=cmd)], check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def test_unchanged_file_is_not_parsed_and_every_change_is_planned(netns, tmp_path):
    p = tmp_path / "same.pn"
    p.write_text(TOPO)
    assert probe(netns, str(p)) == "parsed"  # the first up
    assert probe(netns, str(p)) == "not parsed"  # nothing changed: answered from the digest
    r = netns.pipenet("up", str(p))
    assert r.returncode == 0 and "same is up: nothing to change" in r.stderr
    assert probe(netns, str(p), "plan") == "not parsed"  # plan: what up would do, which is nothing
    assert json.loads(netns.pipenet("plan", str(p), "--format", "json").stdout) == {
        "schema": "pipenet/plan/v1", "topology": "same", "empty": True, "steps": []}

    # an edited file: the full plan, and the new container is made
    p.write_text(TOPO + "container b { net b0 }\n")
    assert probe(netns, str(p), "plan") == "parsed"
    assert not json.loads(netns.pipenet("plan", str(p), "--format", "json").stdout)["empty"]
    assert probe(netns, str(p)) == "parsed"
    assert "same@b" in netns.out(["ip", "netns", "list"])
    assert probe(netns, str(p)) == "not parsed"

    # the host's resolv.conf is copied into containers: a new one is an input that changed
    netns.run(["sh", "-c", "echo 'nameserver 10.9.9.9' > /etc/resolv.conf"])
    assert probe(netns, str(p)) == "parsed"
    assert "10.9.9.9" in netns.out(["cat", "/etc/netns/same@a/resolv.conf"])

    # another path with the same text is another file: planned in full (and found to be up to date)
    q = tmp_path / "copy.pn"
    q.write_text(p.read_text())
    assert probe(netns, str(q)) == "parsed"

    # down removes the digest with the record
    assert netns.pipenet("down", "same").returncode == 0
    assert netns.run(["ls", "/run/pipenet/same"], check=False).returncode != 0
    assert probe(netns, str(p)) == "parsed"
    assert netns.pipenet("down", "same").returncode == 0


def test_a_topology_that_reads_the_live_host_has_no_digest(netns, tmp_path):
    p = tmp_path / "auto.pn"
    p.write_text("topology autohost\nbridge b0 { address auto }\ncontainer a { net b0 }\n")
    assert probe(netns, str(p)) == "parsed"
    assert netns.run(["ls", "/run/pipenet/autohost/inputs.json"], check=False).returncode != 0
    assert probe(netns, str(p)) == "parsed"  # every up chooses among the subnets free now
    assert netns.pipenet("down", "autohost").returncode == 0


def test_an_interrupted_run_is_finished_even_when_the_file_is_unchanged(netns, tmp_path):
    p = tmp_path / "same.pn"
    p.write_text(TOPO)
    assert netns.pipenet("up", str(p)).returncode == 0  # the digest of TOPO is recorded
    p.write_text(TOPO + "container b { net b0 }\n")
    r = netns.faultrun("up", str(p), kill_step=1)
    assert r.returncode == -signal.SIGKILL  # killed mid-run: a journal is pending
    p.write_text(TOPO)  # back to the text whose digest is recorded
    r = netns.pipenet("up", str(p))
    assert r.returncode == 0 and "interrupted run" in r.stderr, r.stderr
    assert "same@b" not in netns.out(["ip", "netns", "list"])
    assert netns.pipenet("down", "same").returncode == 0


def test_the_digest_covers_pipenet_own_code(monkeypatch):
    text = textwrap.dedent(TOPO)
    before = inputs.digest(text, "same")
    monkeypatch.setattr(inputs, "_CODE", ["another version of pipenet"])
    assert inputs.digest(text, "same") != before
    assert inputs.digest(text + "\n", "same") != inputs.digest(text, "same")
