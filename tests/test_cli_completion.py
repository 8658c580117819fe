"""Shell completion: `pipenet completion bash|zsh|fish` prints the script, `--install-completion` installs
it, and the answers: commands, options, .pn files, the topologies that are up and their nodes.

The answers are asked as the shells ask them (`_PIPENET_COMPLETE=complete_bash` with `COMP_WORDS` and
`COMP_CWORD`, the zsh and fish forms through `_TYPER_COMPLETE_ARGS`) of the installed `pipenet` script,
and once through the printed bash script itself, run by a real bash. Topologies and nodes come from a
root topology and a sandbox brought up in the harness's private namespaces.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)  # the virtualenv's bin, where the `pipenet` console script is
PIPENET = os.path.join(BIN, "pipenet")
COMMANDS = ["check", "fmt", "plan", "up", "down", "status", "ls", "test", "graph", "logs", "exec", "shell",
            "import", "export", "completion"]


def env(**extra) -> dict:
    e = {k: v for k, v in os.environ.items() if not k.startswith(("_PIPENET_COMPLETE", "COMP_", "_TYPER"))}
    e["PATH"] = BIN + os.pathsep + e.get("PATH", "")
    e.update(extra)
    return e


def bash_words(line: str) -> dict:
    """What bash hands the completion function for `line` (the cursor at its end)."""
    words = line.split(" ")
    return {"_PIPENET_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}


def complete(line: str, run=None) -> list[str]:
    """The bash completions of `line` in the repository (through `run(argv, env=...)` when given: inside the
    test world, where the working directory is /)."""
    if run is not None:
        r = run([PIPENET], env=env(**bash_words(line)), check=False)
    else:
        r = subprocess.run([PIPENET], env=env(**bash_words(line)), capture_output=True, text=True, cwd=REPO,
                           timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


@pytest.mark.parametrize("shell,marks", [
    ("bash", ["_PIPENET_COMPLETE=complete_bash", "complete -o default -F _pipenet_completion pipenet"]),
    ("zsh", ["#compdef pipenet", "_PIPENET_COMPLETE=complete_zsh", "compdef _pipenet_completion pipenet"]),
    ("fish", ["complete --command pipenet", "_PIPENET_COMPLETE=complete_fish"]),
])
def test_the_script_for_each_shell(shell, marks):
    r = subprocess.run([PIPENET, "completion", shell], capture_output=True, text=True, env=env())
    assert r.returncode == 0 and r.stderr == ""
    for mark in marks:
        assert mark in r.stdout, (mark, r.stdout)
    if shell == "bash":  # bash itself reads it
        assert subprocess.run(["bash", "-n"], input=r.stdout, text=True).returncode == 0


def test_an_unknown_shell_is_one_line():
    r = subprocess.run([PIPENET, "completion", "tcsh"], capture_output=True, text=True, env=env())
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == "pipenet: completion is for bash, zsh, fish, not tcsh\n"


def test_install_completion_for_bash(tmp_path):
    """typer's --install-completion, from a bash (which it detects): the same script, sourced from ~/.bashrc."""
    home = tmp_path / "home"
    home.mkdir()
    r = subprocess.run(["bash", "-c", 'pipenet --install-completion; exit "$?"'], capture_output=True, text=True,
                       env=env(HOME=str(home), SHELL="/bin/bash"))
    assert r.returncode == 0 and "bash completion installed" in r.stdout, r.stdout + r.stderr
    installed = home / ".bash_completions" / "pipenet.sh"
    printed = subprocess.run([PIPENET, "completion", "bash"], capture_output=True, text=True, env=env()).stdout
    assert installed.read_text().strip() == printed.strip()
    assert f"source '{installed}'" in (home / ".bashrc").read_text()


def test_commands_options_and_files():
    assert complete("pipenet ") == COMMANDS
    assert complete("pipenet st") == ["status"]
    assert complete("pipenet up --") == ["--sandbox", "--var", "--help"]
    assert complete("pipenet test a.pn --j") == ["--json", "--junit"]
    assert complete("pipenet plan a.pn --") == ["--format", "--var", "--json", "--help"]
    assert complete("pipenet completion ") == ["bash", "zsh", "fish"]
    assert complete("pipenet --") == ["--version", "--install-completion", "--show-completion", "--help"]
    # FILE: the .pn files (and directories to look into) under what was typed
    assert complete("pipenet up exam") == ["examples/"]
    assert complete("pipenet check examples/p") == ["examples/point-to-point.pn", "examples/publish.pn"]
    assert complete("pipenet graph examples/foundations.p") == ["examples/foundations.pn"]
    assert complete("pipenet test README") == []  # not a .pn file


def test_zsh_and_fish_ask_the_same_way():
    r = subprocess.run([PIPENET], capture_output=True, text=True,
                       env=env(_PIPENET_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="pipenet sh"))
    assert r.returncode == 0 and "shell" in r.stdout and "status" not in r.stdout, r.stdout
    r = subprocess.run([PIPENET], capture_output=True, text=True,
                       env=env(_PIPENET_COMPLETE="complete_fish", _TYPER_COMPLETE_FISH_ACTION="get-args",
                               _TYPER_COMPLETE_ARGS="pipenet up --s"))
    assert r.returncode == 0 and r.stdout.split("\t")[0].strip() == "--sandbox", r.stdout


def test_topologies_and_nodes_that_are_up(netns, tmp_path):
    plain = tmp_path / "plain.pn"
    plain.write_text("topology plain\nbridge br0 { address 10.81.0.1/24 }\ncontainer web { net br0 }\n"
                     "container db { net br0 }\n")
    boxed = tmp_path / "boxed.pn"
    boxed.write_text("topology boxed\nbridge br0 { address 10.82.0.1/24 }\ncontainer probe { net br0 }\n")
    assert complete("pipenet exec ", netns.run) == []  # nothing up: nothing to offer
    assert netns.pipenet("up", str(plain)).returncode == 0
    assert netns.pipenet("up", "--sandbox", str(boxed)).returncode == 0
    try:
        assert complete("pipenet exec ", netns.run) == ["db", "host", "probe", "web"]
        assert complete("pipenet exec w", netns.run) == ["web"]
        assert complete("pipenet shell -t plain ", netns.run) == ["db", "host", "web"]
        assert complete("pipenet logs --topology boxed ", netns.run) == ["host", "probe"]
        assert complete("pipenet exec -t ", netns.run) == ["boxed", "plain"]
        assert complete("pipenet status ", netns.run) == ["boxed", "plain"]
        assert complete("pipenet down pl", netns.run) == ["plain"]
        assert complete(f"pipenet down {tmp_path}/pl", netns.run) == [f"{tmp_path}/plain.pn"]  # or its file
        # through the printed script, as bash runs it when TAB is pressed
        script = ('source <(pipenet completion bash); COMP_WORDS=(pipenet exec -t plain ""); COMP_CWORD=4; '
                  '_pipenet_completion pipenet; printf "%s\\n" "${COMPREPLY[@]}"')
        r = netns.run(["bash", "-c", script], env=env(), check=False)
        assert r.returncode == 0 and r.stdout.split() == ["db", "host", "web"], r.stdout + r.stderr
    finally:
        assert netns.pipenet("down", "plain").returncode == 0
        assert netns.pipenet("down", "boxed").returncode == 0
