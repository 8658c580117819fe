"""The entry point's table of common forms reads arguments exactly as the typer app does.

`pipenet.cli.dispatch` runs forms like `up FILE` without loading typer; for
each sample command line, the values it would pass must equal the values
click binds from the typer app's own definition, and anything the table
does not match exactly must be left to typer (help, usage errors).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main
from typer.core import TyperArgument, TyperOption

from pipenet.cli.dispatch import command
from pipenet.cli.app import app
from pipenet.cli.dispatch import FORMS, parse

ROOT = typer.main.get_command(app)

SAMPLES = [
    ["check", "a.pn"], ["check", "a.pn", "--json"], ["check", "--json", "a.pn"],
    ["fmt", "a.pn"], ["fmt", "--check", "a.pn"],
    ["plan", "a.pn"], ["plan", "a.pn", "--format", "sh"], ["plan", "--format=json", "a.pn"],
    ["up", "a.pn"], ["up", "a.pn", "--sandbox"], ["up", "--sandbox", "dir/a.pn"],
    ["down", "fopnp"], ["down", "examples/foundations.pn"],
    ["status"], ["status", "fopnp"], ["status", "--json"], ["status", "fopnp", "--json"],
    ["ls"], ["ls", "--json"],
    ["test", "a.pn"], ["test", "a.pn", "--json", "--sandbox"],
    ["graph", "a.pn"], ["graph", "a.pn", "-o", "x.svg"], ["graph", "--output", "x.dot", "a.pn"],
    ["graph", "a.pn", "--output=x.mmd"],
    ["logs", "www"], ["logs", "-t", "fopnp", "www"], ["logs", "www", "--topology", "fopnp"],
    ["shell", "h1"], ["shell", "--topology=fopnp", "h1"],
    ["exec", "h1", "--", "curl", "-s", "http://x/"], ["exec", "-t", "fopnp", "h1", "--", "ip", "-o", "addr"],
    ["exec", "h1", "-t", "fopnp", "--", "sh", "-c", "exit 5"], ["exec", "h1", "--", "echo", "--", "x"],
    ["exec", "h1", "--"],
    # --var NAME=VALUE, repeatable, on check, plan, up, test and graph
    ["up", "a.pn", "--var", "PID=1234"], ["up", "--var=PID=1234", "a.pn", "--var", "N=2", "--sandbox"],
    ["check", "a.pn", "--var", "A=1", "--json"], ["plan", "a.pn", "--var", "A=x y", "--format", "sh"],
    ["test", "a.pn", "--var", "A=", "--var", "B=2=3"], ["graph", "a.pn", "--var", "A=1", "-o", "x.dot"],
    # containerlab interchange
    ["import", "lab.clab.yml"], ["import", "lab.clab.yml", "-o", "lab.pn"], ["import", "--output=-", "l.yml"],
    ["slice"],
    ["export", "a.pn"], ["export", "--format", "clab", "a.pn"], ["export", "a.pn", "-o", "-", "--var", "A=1"],
    # plan --json; test --junit FILE.xml; completion SHELL
    ["plan", "a.pn", "--json"], ["plan", "--json", "a.pn", "--var", "A=1"],
    ["test", "a.pn", "--junit", "r.xml"], ["test", "--junit=out/r.xml", "a.pn", "--sandbox", "--json"],
    ["completion", "bash"], ["completion", "fish"],
    # a running lab's links and packets
    ["link", "a:eth0", "down"], ["link", "-t", "lab", "a:eth0", "up"], ["link", "a:eth0", "sideways"],
    ["shape", "a:eth0", "rate", "1mbit"], ["shape", "a:eth0", "rate", "1mbit", "delay", "50ms", "-t", "lab"],
    ["shape", "a:eth0", "--clear"], ["shape", "--clear", "--topology=lab", "a:eth0"],
    ["capture", "a:eth0"], ["capture", "a:eth0", "-c", "5", "-w", "x.pcap", "icmp"],
    ["capture", "a:eth0", "-w", "-", "not", "port", "22"], ["capture", "--count=3", "a:eth0", "--write=-"],
]


def typer_binding(argv: list[str]) -> tuple[str, dict]:
    """What the typer app would call: the command's callback and its bound values."""
    name, rest = argv[0], list(argv[1:])
    cmd = ROOT.commands[name]
    with cmd.make_context(name, rest) as sub:
        values = dict(sub.params)
        if name == "exec":
            values["argv"] = list(sub.args)
        return cmd.callback.__name__, values


def called_with(func: str, values: dict) -> dict:
    """The keyword arguments the plain command function would receive, defaults filled in."""
    import inspect

    sig = inspect.signature(command(func))
    bound = sig.bind_partial(**values)
    bound.apply_defaults()
    out = dict(bound.arguments)
    if func == "exec_" and out["argv"][:1] == ["--"]:
        out["argv"] = out["argv"][1:]  # commands.exec_ drops click's leading "--"
    return out


@pytest.mark.parametrize("argv", SAMPLES, ids=" ".join)
def test_fast_form_reads_arguments_as_typer_does(argv):
    fast = parse(argv)
    assert fast is not None, f"{argv} should be a fast form"
    tname, tvalues = typer_binding(argv)
    assert fast[0] == tname  # the typer command calls the plain function of the same name
    assert called_with(fast[0], fast[1]) == called_with(fast[0], tvalues)


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["--version"], ["up"], ["up", "a.pn", "b.pn"], ["up", "a.pn", "--sandbx"], ["up", "-h"],
    ["up", "a.pn", "--help"], ["plan", "a.pn", "--format"], ["exec", "h1", "curl", "x"], ["status", "a", "b"],
    ["graph", "a.pn", "-o"], ["graph", "a.pn", "-ox.svg"], ["down", "x", "--", "y"], ["frobnicate"],
    ["check", "a.pn", "--json=yes"], ["up", "a.pn", "--var"], ["up", "a.pn", "--var", "--sandbox"],
    ["down", "x", "--var", "A=1"], ["fmt", "a.pn", "--var", "A=1"],
    ["--install-completion"], ["--show-completion"], ["completion"], ["completion", "bash", "zsh"],
    ["completion", "--help"], ["test", "a.pn", "--junit"], ["plan", "a.pn", "--json=1"],
    ["down", "x", "--var", "A=1"], ["fmt", "a.pn", "--var", "A=1"], ["link", "a:eth0"], ["shape"],
    ["link", "a:eth0", "down", "now"], ["capture", "a:eth0", "-c"], ["capture", "a:eth0", "--", "-x"],
])
def test_anything_else_is_left_to_typer(argv):
    assert parse(argv) is None


def test_every_typer_command_and_option_is_in_the_table():
    for name, cmd in ROOT.commands.items():
        form = FORMS[name]
        opts = {o for p in cmd.params if isinstance(p, TyperOption) for o in p.opts}
        assert opts == set(form.flags) | set(form.valued), name
        flags = {o for p in cmd.params if isinstance(p, TyperOption) and p.is_flag for o in p.opts}
        assert flags == set(form.flags), name
        args = [p.name + ("*" if p.nargs == -1 else "" if p.required else "?") for p in cmd.params
                if isinstance(p, TyperArgument)]
        assert args == list(form.positional), name
    assert set(FORMS) == set(ROOT.commands)


def test_the_root_options_are_typer_s():
    """--version and typer's completion options (--install-completion, --show-completion) are never fast forms;
    nor is a shell's completion request, which runs `pipenet` with no arguments."""
    opts = {o for p in ROOT.params for o in p.opts}
    assert opts == {"--version", "--install-completion", "--show-completion"}
    for o in opts:
        assert parse([o]) is None
    assert parse([]) is None


def test_a_fast_form_does_not_load_typer():
    code = ("import sys; sys.argv = ['pipenet', 'ls', '--json']\n"
            "from pipenet.cli.dispatch import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'typer' not in sys.modules and 'pydantic' not in sys.modules, 'typer loaded'\n"
            "assert 'pyroute2' not in sys.modules, 'pyroute2 loaded'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_usage_errors_still_come_from_typer():
    r = subprocess.run([sys.executable, "-m", "pipenet", "up"], capture_output=True, text=True)
    assert r.returncode == 2 and "Missing argument 'file'" in r.stderr
    r = subprocess.run([sys.executable, "-m", "pipenet", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("pipenet ")


def test_the_program_ends_without_teardown_unless_something_waits_for_the_exit():
    """`run` ends the process once the command is done (the interpreter's teardown skipped), its output
    flushed and its atexit handlers run (say, a temporary directory's clean-up, or logging's); not when a
    thread that is not a daemon is waiting for the exit."""
    fast = ("import sys; sys.stdout.write('said'); from pipenet.cli.dispatch import _done\n"
            "_done()\nprint('went on')\n")
    r = subprocess.run([sys.executable, "-c", fast], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "said", r
    waits = ("import atexit, sys; atexit.register(lambda: print('at exit'))\n"
             "atexit.register(lambda: print('registered last, run first'))\n" + fast)
    r = subprocess.run([sys.executable, "-c", waits], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "saidregistered last, run first\nat exit\n", r
    thread = ("import threading, time; t = threading.Thread(target=time.sleep, args=(0.2,)); t.start()\n" + fast)
    r = subprocess.run([sys.executable, "-c", thread], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "saidwent on\n", r


def test_the_program_keeps_its_exit_code_when_it_ends_early():
    code = ("import sys; from pipenet.cli import dispatch\n"
            "def main():\n    sys.stderr.write('refused\\n'); sys.exit(3)\n"
            "dispatch.main = main\ndispatch.run()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 3 and r.stderr == "refused\n", r


def test_the_early_end_with_a_closed_output_or_a_profiler():
    """Started with its output closed (sys.stdout is None), the program still ends as it should; under a
    profiler it ends normally, so the profiler can report."""
    import os

    code = "from pipenet.cli.dispatch import _done\n_done(0)\n"
    r = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       preexec_fn=lambda: os.close(1))
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "cProfile", "-m", "pipenet", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "function calls" in r.stdout, r.stdout[-500:]


def test_down_and_a_no_op_up_end_without_teardown(netns, tmp_path):
    """Each ends as soon as it has said what it had to (about 0.03 s of a `down` of 4,000 containers), the
    first `up` too, though it reads the file with lark, which imports `logging`, whose exit handler runs
    first (`_done`)."""
    path = tmp_path / "q.pn"
    path.write_text("topology q\nbridge br0 { address 10.61.0.1/24 }\ncontainer a { net br0 }\n")
    spy = ("import os, sys\nreal = os._exit\n"
           "def ended(code):\n    sys.stderr.write('ended early\\n'); sys.stderr.flush(); real(code)\n"
           "os._exit = ended\nsys.argv = ['pipenet'] + sys.argv[1:]\n"
           "from pipenet.cli.dispatch import run\nrun()\n")
    for args, early in ((["up", str(path)], True), (["up", str(path)], True), (["down", "q"], True)):
        r = netns.run([sys.executable, "-c", spy, *args], check=False)
        assert r.returncode == 0 and ("ended early" in r.stderr) == early, (args, r.stderr)
