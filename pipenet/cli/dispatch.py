"""The `pipenet` entry point: the common exact forms run at once, everything else goes to typer.

Why: typer (with click and pydantic, which it loads to convert values) costs
about 70 ms before a command starts, a third of a no-op `up` and more than
the kernel work of a small topology. Scripts call `pipenet up FILE`,
`pipenet exec NODE -- CMD` and the like in loops, so those forms are
recognised here from a small table and call the command directly. Anything
the table does not match exactly (help, --version, a misspelt option, a
missing argument) goes to the typer app in `pipenet.cli.app`, which owns
the command line's definition, its help and its usage errors. A test
checks, form by form, that this table reads arguments as typer does.
"""

from __future__ import annotations

import sys


class Form:
    """One command's shape (a plain class: this module must cost nothing to import)."""

    __slots__ = ("func", "positional", "flags", "valued", "rest", "repeat")

    def __init__(self, func: str, positional: tuple[str, ...], flags: dict | None = None,
                 valued: dict | None = None, rest: str | None = None, repeat: tuple[str, ...] = ()):
        self.func = func  # the function in pipenet.cli.commands, .files or .runtime (`command`)
        self.positional = positional  # a trailing "?" marks an optional one, "*" the last, taking the rest
        self.flags = flags or {}  # --flag -> parameter (True when given)
        self.valued = valued or {}  # --option VALUE -> parameter
        self.rest = rest  # everything after `--` goes to this parameter
        self.repeat = repeat  # parameters of `valued` options that may repeat: a list of every value


_T = {"-t": "topology", "--topology": "topology"}
_VAR = {"--var": "var"}
_V = ("var",)
FORMS = {
    "check": Form("check", ("file",), {"--json": "json"}, valued=_VAR, repeat=_V),
    "fmt": Form("fmt", ("file",), {"--check": "check"}),
    "plan": Form("plan", ("file",), {"--json": "json"}, valued={"--format": "format", **_VAR}, repeat=_V),
    "up": Form("up", ("file",), {"--sandbox": "sandbox"}, valued=_VAR, repeat=_V),
    "down": Form("down", ("target",), {"--force": "force", "--sandbox": "sandbox"}),
    "status": Form("status", ("topology?",), {"--json": "json"}),
    "ls": Form("ls", (), {"--json": "json"}),
    "test": Form("test", ("file",), {"--json": "json", "--sandbox": "sandbox"}, valued={"--junit": "junit", **_VAR},
                 repeat=_V),
    "graph": Form("graph", ("file",), valued={"-o": "out", "--output": "out", **_VAR}, repeat=_V),
    "logs": Form("logs", ("node",), valued=_T),
    "shell": Form("shell", ("node",), valued=_T),
    "exec": Form("exec_", ("node",), valued=_T, rest="argv"),
    "slice": Form("slice", ()),  # (hidden: what each machine of a topology across machines runs)
    "import": Form("import_", ("file",), valued={"-o": "out", "--output": "out"}),
    "export": Form("export", ("file",), valued={"--format": "format", "-o": "out", "--output": "out", **_VAR},
                   repeat=_V),
    "completion": Form("completion", ("shell",)),
    "link": Form("link", ("target", "state"), valued=_T),
    "shape": Form("shape", ("target", "settings*"), {"--clear": "clear"}, valued=_T),
    "capture": Form("capture", ("target", "filter*"), valued={"-w": "write", "--write": "write", "-c": "count",
                                                              "--count": "count", **_T}),
}


def parse(argv: list[str]) -> tuple[str, dict] | None:
    """(function name, keyword arguments) for an exact common form, or None to let typer decide."""
    if not argv or argv[0] not in FORMS:
        return None
    form = FORMS[argv[0]]
    args = argv[1:]
    kw: dict = {}
    if form.rest is not None:
        if "--" not in args:
            return None
        cut = args.index("--")
        args, kw[form.rest] = args[:cut], args[cut + 1:]
    elif "--" in args:
        return None
    positional: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("-") and a != "-":
            name, eq, value = a.partition("=")
            if name in form.flags and not eq:
                kw[form.flags[name]] = True
            elif name in form.valued and (name.startswith("--") or not eq):  # click: -o=x means "=x"
                if not eq:
                    i += 1
                    if i == len(args) or (args[i].startswith("-") and args[i] != "-"):  # `-o -`: stdout
                        return None
                    value = args[i]
                param = form.valued[name]
                if param in form.repeat:
                    kw.setdefault(param, []).append(value)
                else:
                    kw[param] = value
            else:
                return None
        else:
            positional.append(a)
        i += 1
    names = list(form.positional)
    if names and names[-1].endswith("*"):  # the rest of the words, as a list (none: (), as click binds)
        rest = positional[len(names) - 1:]
        positional = positional[:len(names) - 1]
        kw[names.pop()[:-1]] = rest or ()
    required = [p for p in names if not p.endswith("?")]
    if not len(required) <= len(positional) <= len(names):
        return None
    for name, value in zip(names, positional):
        kw[name.rstrip("?")] = value
    return form.func, kw


def command(name: str):
    """The plain function behind a command: a network's life in `commands`, files alone in `files`, a
    running lab's links and packets in `runtime`, a machine's share of a topology across machines in
    `remote`."""
    from pipenet.cli import commands, files, remote, runtime

    for module in (commands, files, runtime):
        if hasattr(module, name):
            return getattr(module, name)
    return getattr(remote, name)


#: Where the tools pipenet runs (iptables-restore, ip, tc, sysctl) live; a user's PATH often lacks them.
ADMIN_DIRS = ("/usr/sbin", "/sbin")


def admin_path(path: str) -> str:
    """PATH with ADMIN_DIRS added at its end where missing, so a tool there is found (and never said to be
    not installed) without changing which program the user's own PATH picks first."""
    parts = [p for p in path.split(":") if p] if path else []
    return ":".join(parts + [d for d in ADMIN_DIRS if d not in parts])


def _done(code: int = 0) -> None:
    """The command has finished and said what it had to: end the process now, without the interpreter's
    teardown (every module and object freed one by one: 10 to 15 ms of a no-op `up` at thousands of
    containers, more after a full `up`), once what asked to run at exit has run (an `atexit` handler: a
    temporary directory's clean-up, `logging`'s, which lark's import registers), unless a thread that
    is not a daemon is still running, or a profiler or a debugger waits for the program's return."""
    import atexit
    import os
    import threading

    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if run_exitfuncs is None or sys.getprofile() or sys.gettrace() or any(
            not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return  # (a profiler or a debugger does its work after the program returns)
    try:
        run_exitfuncs()  # (as the normal exit would, in the same order: last registered first)
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # (None: started with that descriptor closed)
                stream.flush()
    except Exception:  # noqa: BLE001 - the output could not be written whole: the normal exit says so
        return
    os._exit(code)


def run() -> None:
    """The `pipenet` program (the console script, `python -m pipenet`): `main`, then the end of the
    process without the interpreter's teardown (`_done`). `main` itself returns, for callers that go on."""
    from pipenet import gcpause

    gcpause.ENDS_WITH_COMMAND = True
    try:
        main()
    except SystemExit as e:  # (how a command ends with its exit code)
        if e.code is None or (isinstance(e.code, int) and not isinstance(e.code, bool)):
            _done(e.code or 0)
        raise
    _done()


def main() -> None:
    import os

    os.environ["PATH"] = admin_path(os.environ.get("PATH", ""))
    try:
        found = parse(sys.argv[1:])
        if found is not None:
            command(found[0])(**found[1])
        else:
            from pipenet.cli.app import app

            app()
    except KeyboardInterrupt:
        from pipenet.cli import output

        output.message("pipenet: interrupted")
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the last net: a refusal no command caught is still one line
        from pipenet.errors import PipenetError

        if not isinstance(e, PipenetError):
            raise
        from pipenet.cli.glue import fail

        fail(e)
