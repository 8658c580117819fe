"""docs/ci.md's GitHub Actions workflow is ready to copy: its YAML parses, it has the steps the page
describes, and every `pipenet` command it runs is one pipenet's command line accepts, on a file that
exists and is right. (GitHub itself is out of reach here: what the runner does is the page's to say.)"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap

import typer.main
import yaml

from pipenet.cli.app import app
from pipenet.cli.dispatch import parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(REPO, "docs", "ci.md")


def blocks(lang: str) -> list[str]:
    """The page's code blocks in `lang`, a block indented in a list item included (dedented)."""
    with open(PAGE) as f:
        return [textwrap.dedent(b) for b in re.findall(rf"^ *```{lang}\n(.*?)^ *```", f.read(), re.M | re.S)]


def pipenet_commands(run: str) -> list[list[str]]:
    """The argv (after the program) of each `pipenet` command in a step's shell text."""
    out = []
    for line in run.splitlines():
        words = shlex.split(line, comments=True)
        for i, w in enumerate(words):
            if os.path.basename(w) == "pipenet":
                out.append(words[i + 1:])
    return out


def accepted(argv: list[str]) -> bool:
    """pipenet's command line reads argv: a fast form, or what typer's own parser binds without error."""
    if parse(argv) is not None:
        return True
    cmd = typer.main.get_command(app).commands[argv[0]]
    with cmd.make_context(argv[0], list(argv[1:])):
        return True


def test_the_workflow_parses_and_runs_what_the_page_says():
    workflow = yaml.safe_load(blocks("yaml")[0])
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    runs = [s.get("run", "") for s in steps]
    assert "sudo tools/install" in runs and os.access(os.path.join(REPO, "tools", "install"), os.X_OK)
    assert any("kernel.apparmor_restrict_unprivileged_userns=0" in r for r in runs)
    (upload,) = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"  # the report is kept when the test step failed too
    commands = [c for r in runs for c in pipenet_commands(r)]
    tests = [c for c in commands if c[0] == "test"]
    assert len(tests) == 1 and "--sandbox" in tests[0] and "--junit" in tests[0]
    assert tests[0][tests[0].index("--junit") + 1] == upload["with"]["path"]
    for argv in commands:
        assert accepted(argv), argv
        files = [a for a in argv if a.endswith(".pn")]
        for f in files:
            r = subprocess.run([sys.executable, "-m", "pipenet", "check", f], cwd=REPO, capture_output=True,
                               text=True)
            assert r.returncode == 0, r.stderr


def test_the_root_variant_is_a_step_too():
    (step,) = yaml.safe_load(blocks("yaml")[1])
    (argv,) = pipenet_commands(step["run"])
    assert step["run"].startswith("sudo ") and argv[:2] == ["test", "--sandbox"] and accepted(argv)
