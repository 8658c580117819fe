"""Every `--json` output is one JSON object that carries its version (`"schema": "pipenet/COMMAND/vN"`) and
validates against the JSON Schema shipped in the package (pipenet/schemas/, the same files as docs/schemas/).

The documents are real outputs of real runs: `check` of every example and of a wrong file, and `plan`,
`up`, `status` (one topology, all of them, one with drift, one not up), `ls` and `test` in the harness's
private namespaces, a sandbox included. A schema that let a renamed or missing field through would be
worth nothing, so the last test renames and removes fields of a real document and expects a refusal.
"""

from __future__ import annotations

import copy
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap

import jsonschema
import pytest

from pipenet import schemas
from pipenet.results import SCHEMA, STATUS_ACROSS_MACHINES, TEST_WITH_ALL_PAIRS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(REPO, "examples", "*.pn")))
DOCS = os.path.join(REPO, "docs", "schemas")

LAB = textwrap.dedent("""
    topology schemas
    bridge br0 { address 10.77.0.1/24 }
    container web {
        net br0
        publish 18080:80/tcp
        run "python3 -m http.server 80"
    }
    container client { net br0 }
    expect client can reach web:80/tcp
    expect client cannot reach web      # fails: ICMP echo works on a bridge
""")


#: The published schemas, by content: a version, once published, never changes (a change of a document's
#: fields is COMMAND.v2.json beside it, and results.SCHEMA names the new version).
PUBLISHED = {
    "check.v1.json": "5ecc93093845ef6dd5b8dcb5eb73a9c79e0dc5d88d54459143cdf884d09d8827",
    "ls.v1.json": "fb9e7d1b64216587442d42bf84fd0e160bdfc2667384a8e5e88dee144f0712c0",
    "ls.v2.json": "889678464d12f9412018da91de25bcb6a1248fa5cfa452493614df0a85b04677",
    "plan.v1.json": "74c22fb59c434e897fb46d4414727b034d7ad60e5c86e816ea1f69fa98614d87",
    "status.v1.json": "94df417dca3b38f527d6163a221d08b038c13450bae388e7215f341d52a68629",
    "status.v2.json": "79a6be0f108f6cddb211bfab9b1a566e0e06f6f092a5de555c1d253d404ee4c9",
    "status.v3.json": "5f9dd5d1623ed878a3c6985894ddcfe49ec16c14a81657dcbcf9304bf0ee8ad8",
    "status-all.v1.json": "560ce0244fea1c7b99bcd4aec0b4b51c0d177799e5cb97ee2a058e3299801212",
    "test.v1.json": "9975c4611f56b30b356be6379a39f149df82284a8392237012feb75fb51109f5",
    "test.v2.json": "b481adad27b6aa519236ed4a87aeeb56e8edea057e3b0dcee8f54e2f76ccf73d",
}


def validate(doc, command: str) -> None:
    """`doc` is a valid `pipenet COMMAND --json` document (`status-all`: `status --json` without a name), one
    object of the version it names."""
    assert isinstance(doc, dict) and doc["schema"] == SCHEMA[command], doc
    jsonschema.validate(doc, schemas.load(SCHEMA[command]), cls=jsonschema.Draft202012Validator)


def pipenet(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipenet", *args], capture_output=True, text=True, timeout=60)


def test_each_command_has_a_valid_schema_shipped_in_the_package_and_in_the_docs():
    assert set(SCHEMA) == {"check", "plan", "status", "status-all", "ls", "test"}
    shipped = sorted(os.path.basename(p) for p in glob.glob(os.path.join(schemas.HERE, "*.json")))
    # the current version of each command, and every version published before it (kept, never changed)
    assert {f"{n.split('/')[1]}.{n.split('/')[2]}.json" for n in SCHEMA.values()} <= set(shipped)
    assert set(shipped) == set(PUBLISHED)
    for command, name in SCHEMA.items():
        doc = schemas.load(name)
        jsonschema.Draft202012Validator.check_schema(doc)
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert doc["$id"] == f"urn:pipenet:schema:{command}:{name.split('/')[2]}"
        assert name in json.dumps(doc)  # the document's own `schema` value is pinned (a const)
    # docs/schemas/ holds the very same files, byte for byte
    assert sorted(os.listdir(DOCS)) == shipped
    for name in shipped:
        with open(os.path.join(DOCS, name), "rb") as a, open(os.path.join(schemas.HERE, name), "rb") as b:
            assert a.read() == b.read(), f"docs/schemas/{name} differs from pipenet/schemas/{name}"
    for name in (STATUS_ACROSS_MACHINES, TEST_WITH_ALL_PAIRS):  # (versions some documents take, by content)
        doc = schemas.load(name)
        jsonschema.Draft202012Validator.check_schema(doc)
        assert doc["$id"] == "urn:pipenet:schema:{}:{}".format(*name.split("/")[1:]) and name in json.dumps(doc)
    with pytest.raises(ValueError):
        schemas.path("pipenet/../x/v1")


def test_a_published_schema_never_changes():
    for name, digest in PUBLISHED.items():
        with open(os.path.join(schemas.HERE, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == digest, \
                f"{name} was published: a change of its document is a new version, in a new file"


def test_check_outputs_of_every_example_and_of_a_wrong_file(tmp_path):
    assert len(EXAMPLES) >= 10
    for path in EXAMPLES:
        r = pipenet("check", path, "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        validate(doc, "check")
        assert doc["ok"] and doc["counts"]["containers"] > 0
    bad = tmp_path / "bad.pn"
    bad.write_text("topology bad\nbridge br0 { address 10.0.0.1/33 }\ncontainer a { net nowhere }\n"
                   "for i in 1..2 { container c${i} { net br0; address 10.0.0.1/24 } }\n")
    r = pipenet("check", str(bad), "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    validate(doc, "check")
    assert not doc["ok"] and len(doc["diagnostics"]) >= 2 and "counts" not in doc
    assert any(d["loop"] for d in doc["diagnostics"])  # an error inside a loop names its iteration


def test_plan_up_status_ls_and_test_outputs_in_the_test_world(netns, tmp_path):
    path = tmp_path / "schemas.pn"
    path.write_text(LAB)
    path = str(path)
    ls = json.loads(netns.pipenet("ls", "--json").stdout)
    validate(ls, "ls")
    assert ls == {"schema": "pipenet/ls/v2", "complete": True, "topologies": []}  # nothing up: still versioned
    every = json.loads(netns.pipenet("status", "--json").stdout)
    validate(every, "status-all")
    assert every == {"schema": "pipenet/status-all/v1", "complete": True, "topologies": []}
    for args in (["--json"], ["--format", "json"]):
        r = netns.pipenet("plan", path, *args)
        assert r.returncode == 0, r.stderr
        plan = json.loads(r.stdout)
        validate(plan, "plan")
        assert not plan["empty"] and {s["action"] for s in plan["steps"]} == {"apply"}
    both = netns.pipenet("plan", path, "--json", "--format", "sh")  # one or the other
    assert both.returncode == 1 and both.stderr == "pipenet: --json is --format json, not sh\n"
    assert netns.pipenet("up", path).returncode == 0
    plan = json.loads(netns.pipenet("plan", path, "--json").stdout)
    validate(plan, "plan")
    assert plan["empty"] and plan["steps"] == []

    status = json.loads(netns.pipenet("status", "schemas", "--json").stdout)
    validate(status, "status")
    assert status["drift"] == [] and status["published"] and status["processes"][0]["alive"]
    assert {n["node"] for n in status["nodes"]} == {"web", "client"}
    ls = json.loads(netns.pipenet("ls", "--json").stdout)
    validate(ls, "ls")
    assert [(r["topology"], r["nodes"], r["sandbox"]) for r in ls["topologies"]] == [("schemas", 2, None)]
    assert ls["complete"] and "schema" not in ls["topologies"][0]  # the document carries it, once

    r = netns.pipenet("test", path, "--json")
    assert r.returncode == 4, r.stderr
    report = json.loads(r.stdout)
    validate(report, "test")
    assert (report["passed"], report["failed"]) == (1, 1)

    # drift: a changed MTU, a dead `run` process; and a repair plan
    netns.run(["ip", "-n", "schemas@client", "link", "set", "eth0", "mtu", "1400"])
    os.kill(status["processes"][0]["pid"], signal.SIGKILL)
    r = netns.pipenet("status", "schemas", "--json")
    assert r.returncode == 1
    drifted = json.loads(r.stdout)
    validate(drifted, "status")
    assert sorted(d["state"] for d in drifted["drift"]) == ["changed", "missing"]  # the MTU; the process
    r = netns.pipenet("status", "--json")
    assert r.returncode == 1  # drift, as for the one topology
    every = json.loads(r.stdout)
    validate(every, "status-all")
    assert [d["topology"] for d in every["topologies"]] == ["schemas"] and every["complete"]
    for each in every["topologies"]:  # each is the document `status NAME --json` prints
        validate(each, "status")
        assert each.keys() == drifted.keys() and len(each["drift"]) == len(drifted["drift"])
    plan = json.loads(netns.pipenet("plan", path, "--json").stdout)
    validate(plan, "plan")
    assert plan["steps"] and all(s["reason"] for s in plan["steps"])  # each repair says why

    assert netns.pipenet("down", "schemas").returncode == 0
    gone = json.loads(netns.pipenet("status", "schemas", "--json").stdout)
    validate(gone, "status")
    assert gone == {"schema": SCHEMA["status"], "topology": "schemas", "up": False}


def test_a_sandbox_in_ls_and_status(netns, tmp_path):
    path = tmp_path / "boxed.pn"
    path.write_text("topology boxed\nbridge br0 { address 10.78.0.1/24 }\ncontainer a { net br0 }\n"
                    "expect a can reach 10.78.0.1\n")
    r = netns.pipenet("test", "--sandbox", str(path), "--json")
    assert r.returncode == 0, r.stderr
    validate(json.loads(r.stdout), "test")
    try:
        ls = json.loads(netns.pipenet("ls", "--json").stdout)
        validate(ls, "ls")
        [box] = ls["topologies"]
        assert box["topology"] == "boxed" and box["sandbox"]["alive"] and box["operations"] is None
        status = json.loads(netns.pipenet("status", "boxed", "--json").stdout)
        validate(status, "status")
        assert status["sandbox"]["holder"] == box["sandbox"]["holder"]
        every = json.loads(netns.pipenet("status", "--json").stdout)
        validate(every, "status-all")
        assert [d["sandbox"]["holder"] for d in every["topologies"]] == [box["sandbox"]["holder"]]
    finally:
        assert netns.pipenet("down", "boxed").returncode == 0


def test_a_renamed_or_missing_field_is_refused():
    """The schemas are strict: required fields, no unknown ones, the version pinned."""
    r = pipenet("check", EXAMPLES[0], "--json")
    good = json.loads(r.stdout)
    validate(good, "check")
    renamed = copy.deepcopy(good)
    renamed["name"] = renamed.pop("topology")
    missing = copy.deepcopy(good)
    del missing["ok"]
    newer = dict(good, schema="pipenet/check/v2")
    typo = copy.deepcopy(good)
    typo["counts"]["container"] = typo["counts"].pop("containers")
    for doc in (renamed, missing, newer, typo):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, schemas.load(SCHEMA["check"]), cls=jsonschema.Draft202012Validator)
    # the arrays `ls --json` and `status --json` printed before their versions made them one object
    lab = {"schema": "pipenet/ls/v1", "topology": "t", "file": None, "nodes": 1, "operations": 3, "sandbox": None}
    jsonschema.validate([lab], schemas.load("pipenet/ls/v1"), cls=jsonschema.Draft202012Validator)
    for command, old in (("ls", [lab]), ("ls", []), ("status-all", [])):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(old, schemas.load(SCHEMA[command]), cls=jsonschema.Draft202012Validator)
    in_list = {"schema": SCHEMA["ls"], "complete": True, "topologies": [lab]}  # an element carries no version
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(in_list, schemas.load(SCHEMA["ls"]), cls=jsonschema.Draft202012Validator)
