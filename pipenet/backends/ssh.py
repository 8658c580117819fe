"""Running pipenet on another machine through the system's ssh client (docs/multi-host.md).

ssh takes the remote command as one string, which the remote user's shell
reads, so the argv given here is joined with `shlex.quote`, word by word:
nothing from a topology file reaches that string except names the front end
has validated, and the topology itself travels on stdin. Options come from
the user's ssh configuration (`PIPENET_SSH_CONFIG=FILE` adds `-F FILE`);
`BatchMode` keeps ssh from asking for a password on a terminal pipenet owns.
Each machine gets one master connection (`ControlMaster=auto` with a
control socket in a private directory): the coordinator's are kept there a
while for the next command (`Remotes(keep_in=...)`), others are closed with
`ssh -O exit` when the command ends, and by `ControlPersist` if pipenet
itself is killed.

The machine pipenet runs on (`local`) takes the same path without ssh: its
slice runs in a child `pipenet`, so every machine's slice is one process
with its own journal, whatever machine it is on.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

#: how long an idle master connection outlives a pipenet that did not close it (killed)
PERSIST_SECONDS = 30
#: how long a kept master connection waits, idle, for the next command (Ansible keeps its own 60 s too)
KEEP_SECONDS = 60
CONNECT_TIMEOUT = 10


@dataclass
class Result:
    rc: int
    out: str
    err: str

    @property
    def last_line(self) -> str:
        """Why it failed, in one line: the first of pipenet's own messages there (`pipenet: ...`), else
        the last line ssh said."""
        lines = [x.strip() for x in self.err.splitlines() if x.strip()]
        own = [x[len("pipenet: "):] for x in lines if x.startswith("pipenet: ")]
        return own[0] if own else lines[-1] if lines else f"exit status {self.rc}"


class Remote:
    """One machine: `dest` ([USER@]HOST) reached with ssh, or None for the machine pipenet runs on."""

    def __init__(self, name: str, dest: str | None, program: str | None, control_dir: str,
                 persist: int = PERSIST_SECONDS):
        self.name = name
        self.dest = dest
        self.program = program or "pipenet"
        self.control_dir = control_dir
        self.persist = persist

    @property
    def local(self) -> bool:
        return self.dest is None

    def _ssh(self, multiplex: bool = True) -> list[str]:
        argv = ["ssh"]
        config = os.environ.get("PIPENET_SSH_CONFIG")
        if config:
            argv += ["-F", config]
        argv += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]
        if multiplex:
            argv += ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.control_dir}/%C", "-o",
                     f"ControlPersist={self.persist}",
                     # (a kept master whose machine went away without a word is given up within 15 s)
                     "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        return argv

    def argv(self, args: list[str], multiplex: bool = True, tty: bool = False) -> list[str]:
        """The local argv that runs `pipenet ARGS...` on the machine (`tty`: an interactive one, for `shell`)."""
        if self.local:
            return [sys.executable, "-m", "pipenet", *args]
        return self._ssh(multiplex) + (["-t"] if tty else []) + ["--", self.dest, shlex.join([self.program, *args])]

    def run(self, args: list[str], stdin: str = "", timeout: float | None = None) -> Result:
        try:
            p = subprocess.run(self.argv(args), input=stdin, capture_output=True, text=True, timeout=timeout,
                               stdin=None if stdin else subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return Result(124, "", f"no answer within {timeout:.0f} s")
        except OSError as e:
            return Result(127, "", f"cannot run {'pipenet' if self.local else 'ssh'}: {e.strerror or e}")
        return Result(p.returncode, p.stdout, p.stderr)

    def start(self, args: list[str]) -> Talk:
        """`pipenet ARGS` on the machine, left running for a conversation in JSON lines."""
        return Talk(self.argv(args))

    def unreachable(self, r: Result) -> bool:
        """Whether ssh itself failed (it exits 255), rather than the pipenet it ran."""
        return not self.local and r.rc == 255

    def close(self) -> None:
        if not self.local:
            subprocess.run(self._ssh() + ["-O", "exit", "--", self.dest], capture_output=True, timeout=10,
                           stdin=subprocess.DEVNULL)


class Talk:
    """A conversation with one machine's `pipenet slice`: JSON objects one a line on its stdin and stdout
    (what it says on stderr is kept for the end: why it failed, in `Result.last_line`)."""

    def __init__(self, argv: list[str]):
        self.ssh = argv[0] == "ssh"
        self.err = tempfile.TemporaryFile(mode="w+")
        self.result: Result | None = None
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                         text=True, bufsize=1)
        except OSError as e:
            self.proc = None
            self.result = Result(127, "", f"cannot run {argv[0]}: {e.strerror or e}")

    @property
    def open(self) -> bool:
        return self.proc is not None and self.result is None

    def send(self, obj: dict) -> bool:
        """Say `obj`; False when the other side is gone."""
        if not self.open:
            return False
        try:
            self.proc.stdin.write(json.dumps(obj) + "\n")
            self.proc.stdin.flush()
            return True
        except (OSError, ValueError):
            return False

    def receive(self, key: str, timeout: float) -> dict | None:
        """The next object it says, when it carries `key`; None when it ended (or said something else, or
        nothing within `timeout` seconds: it is then killed), `finish()` then tells why."""
        if not self.open:
            return None
        line = self._read(self.proc.stdout.readline, timeout)
        try:
            got = json.loads(line) if line else None
        except ValueError:
            got = None
        if not isinstance(got, dict) or key not in got:
            self.finish(10)
            if self.result.rc == 0 and line:
                self.result = Result(1, "", f"an answer that is not pipenet's ({line[:60]!r})")
            return None
        return got

    def _read(self, read, timeout: float) -> str:
        """read() of its stdout, the process killed if that takes more than `timeout` seconds."""
        timer = threading.Timer(timeout, self.proc.kill)
        timer.start()
        try:
            return read()
        except (OSError, ValueError):
            return ""
        finally:
            timer.cancel()

    def finish(self, timeout: float = 60) -> Result:
        """Close its stdin (the conversation is over: it acts on what it was told) and wait for its end."""
        if self.result is not None:
            return self.result
        try:
            self.proc.stdin.close()
        except (OSError, ValueError):
            pass
        out = self._read(self.proc.stdout.read, timeout)
        rc = self.proc.wait()
        self.err.seek(0)
        err = self.err.read()
        if self.ssh and rc == 255 and not err.strip():  # (its LogLevel may keep ssh quiet)
            err = "ssh: the connection was lost (ssh exited 255)"
        self.result = Result(rc, out, err)
        self.err.close()
        return self.result


class Remotes:
    """The machines of one command, each with its master connection: closed together at the end, or, with
    `keep_in` (a private directory), kept there for KEEP_SECONDS idle for the next command to use."""

    def __init__(self, machines: dict[str, tuple[str | None, str | None]], keep_in: str | None = None):
        self.kept = keep_in is not None
        if keep_in is not None:
            os.makedirs(keep_in, mode=0o700, exist_ok=True)
            os.chmod(keep_in, 0o700)  # (the sockets let whoever reaches them run commands there)
            self.dir = keep_in
        else:
            self.dir = tempfile.mkdtemp(prefix="pipenet-ssh-")
        persist = KEEP_SECONDS if self.kept else PERSIST_SECONDS
        self.by_name = {m: Remote(m, dest, program, self.dir, persist) for m, (dest, program) in machines.items()}

    def __enter__(self) -> Remotes:
        return self

    def __exit__(self, *exc) -> None:
        if self.kept:
            return
        for r in self.by_name.values():
            try:
                r.close()
            except (OSError, subprocess.SubprocessError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
