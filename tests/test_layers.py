"""The layers hold: `lint-imports` checks the contract in pyproject.toml (cli, then the library, then the
engine, then the planner and front end, then the IR, then the backends; imports inside functions
count). The second test proves the check would catch a lazy import that runs back up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())"]


def lint(cwd: str, pythonpath: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    return subprocess.run(LINT + ["--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_import_contracts_are_kept():
    r = lint(REPO, REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 kept, 0 broken" in r.stdout


def test_a_lazy_import_back_up_the_layers_breaks_the_contract(tmp_path):
    shutil.copytree(os.path.join(REPO, "pipenet"), tmp_path / "pipenet",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(REPO, "pyproject.toml"), tmp_path / "pyproject.toml")
    with open(tmp_path / "pipenet" / "backends" / "ledger.py", "a") as f:
        f.write("\n\ndef _sneaky():\n    from pipenet.engine.state import state_root\n    return state_root()\n")
    r = lint(str(tmp_path), str(tmp_path))
    assert r.returncode != 0 and "BROKEN" in r.stdout
    assert "pipenet.backends.ledger -> pipenet.engine.state" in r.stdout
