"""Helpers for the expectation tests: a topology with extra `expect` lines, its `pipenet test` verdicts."""

from __future__ import annotations

import json
import textwrap

KINDS = """
topology kinds
bridge k1 { address 10.71.0.1/24 }
bridge k2 { address 10.72.0.1/24; icc off }
container a { net k1; address 10.71.0.2 }
container b { net k1; address 10.71.0.3 }
container web { net k1; address 10.71.0.10; publish 8080:80/tcp }
container x { net k2; address 10.72.0.2 }
container y { net k2; address 10.72.0.3 }
container lonely
container edge
p2p host:pn-edge0 10.73.0.1/30 -- edge:eth0 10.73.0.2/30
"""


def write(tmp_path, expectations: str) -> str:
    path = tmp_path / "kinds.pn"
    path.write_text(KINDS + textwrap.dedent(expectations))
    return str(path)


def run_file(netns, path: str) -> list[tuple[str, bool, str]]:
    """(expectation, passed, detail) of each line, in file order."""
    r = netns.pipenet("test", path, "--json", timeout=120)
    assert r.returncode in (0, 4), r.stderr
    doc = json.loads(r.stdout)
    assert r.returncode == (4 if doc["failed"] else 0)
    return [(x["expectation"], x["passed"], x["detail"]) for x in doc["results"]]
