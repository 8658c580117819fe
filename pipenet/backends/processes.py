"""`run` processes: started inside a node, stopped TERM-then-KILL, never confused with another process.

A process is started from a forked child that enters the node (network
namespace, private UTS and mount namespaces with the node's hostname, /etc
files and its own `file`s and `private` directories, see
`pipenet.backends.enter`) and becomes the leader of a new session,
so it and its children form one process group that `down` can signal at
once. Its output goes to a log file in the topology's state directory. The
record keeps its pid and the kernel's start time for it, so a recycled pid is
never killed.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 3.0


class ProcessDied(OSError):
    """A `run` command that exited as soon as it started; `log` is where its output went."""

    def __init__(self, what: str, log: str):
        super().__init__(5, what)
        self.log = log


def start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data.rsplit(")", 1)[1].split()[19]


def alive(saved: dict) -> bool:
    pid = saved.get("pid")
    return bool(pid) and start_time(pid) == saved.get("start") and _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


MARK = "PIPENET_PROCESS"


def process_env(marker: str = "") -> dict:
    """The environment of `run` processes: pipenet's own, with the directory of the Python that runs
    pipenet first on PATH, so `python3 -m pipenet.services` works from a virtualenv too."""
    env = dict(os.environ)
    here = os.path.dirname(sys.executable)
    env["PATH"] = here + os.pathsep + env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if marker:
        env[MARK] = marker  # lets recovery find a process whose pid never reached the journal
    return env


def start(ns_path: str | None, argv: list[str], hostname: str, etc: str | None, log: str,
          marker: str = "", binds=()) -> dict:
    from pipenet.backends.enter import enter

    os.makedirs(os.path.dirname(log), mode=0o700, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, f"--- pipenet: starting {shlex.join(argv)} ---\n".encode())
        p = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                             start_new_session=True, close_fds=True, env=process_env(marker), cwd="/",
                             preexec_fn=lambda: enter(ns_path, hostname or None, etc, binds))
    except FileNotFoundError:
        raise FileNotFoundError(2, f"cannot start `{shlex.join(argv)}`: {argv[0]}: command not found") from None
    except OSError as e:
        raise OSError(e.errno, f"cannot start `{shlex.join(argv)}`: {e.strerror}") from None
    finally:
        os.close(fd)
    time.sleep(0.02)
    code = p.poll()
    if code is not None and code != 0:
        raise ProcessDied(f"`{shlex.join(argv)}` exited at once with status {code}", log)
    return {"pid": p.pid, "start": start_time(p.pid), "log": log}


def net_inode(pid: int | str) -> int | None:
    return _ns_inode(pid, "net")


def _ns_inode(pid: int | str, kind: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def _same_world(pid: int | str, marker: str) -> bool:
    """Whether the process sees the files of the marker's place (its log, or the nearest directory
    above it that exists here) as this pipenet does: the same directory, by device and inode. Another
    pipenet's world (another mount namespace with its own /run, sharing this PID namespace) has the very
    same marker strings for a topology of the same name; a name match is not ownership, and when the
    node's namespace is gone or the record is lost the mark is the only clue left."""
    place = marker.rstrip("/") or "/"
    while place != "/":
        try:
            mine = os.stat(place)
        except OSError:
            place = os.path.dirname(place)
            continue
        try:
            theirs = os.stat(f"/proc/{pid}/root{place}")
        except OSError:
            return False
        return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)
    return True  # nothing of it is left here to compare: the PID namespace (and netns) checks decide


def marked(marker: str, net_inode: int | None = None) -> list[dict]:
    """Processes started with this marker (found through their environment), in pipenet's own PID
    namespace, seeing this pipenet's files (`_same_world`) and, when `net_inode` is given, in that
    network namespace. The marker (the log's path) is the same string for a topology of the same name
    in another pipenet's world (a sandbox, whose processes the host can see, or another mount
    namespace), and those are never pipenet's to stop."""
    found = []
    needle = f"{MARK}={marker}".encode() + b"\0"
    own_pids = _ns_inode("self", "pid")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read() + b"\0"
        except OSError:
            continue
        if not (needle in env or env.startswith(needle)):
            continue
        if _ns_inode(entry, "pid") != own_pids:
            continue
        if net_inode is not None and _ns_inode(entry, "net") != net_inode:
            continue
        if not _same_world(entry, marker):
            continue
        pid = int(entry)
        found.append({"pid": pid, "start": start_time(pid)})
    return found


def marked_under(prefix: str) -> list[dict]:
    """Processes in pipenet's own PID namespace, seeing this pipenet's files (`_same_world`), whose
    marker starts with `prefix` (a topology's log directory): {pid, start, marker}. For `down --force`, which has no record of pids."""
    found = []
    needle = f"{MARK}={prefix}".encode()
    own_pids = _ns_inode("self", "pid")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        for var in env.split(b"\0"):
            if var.startswith(needle) and _ns_inode(entry, "pid") == own_pids and _same_world(entry, prefix):
                pid = int(entry)
                found.append({"pid": pid, "start": start_time(pid),
                              "marker": var[len(MARK) + 1:].decode(errors="replace")})
                break
    return found


def stop(saved: dict, grace: float = GRACE_SECONDS) -> None:
    pid = saved.get("pid")
    if not pid or start_time(pid) != saved.get("start"):
        return  # gone already, or the pid now belongs to someone else
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        _reap(pid)
        if not _group_alive(pid):
            return
        time.sleep(0.02)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    for _ in range(100):
        _reap(pid)
        if not _group_alive(pid):
            return
        time.sleep(0.02)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _group_alive(pgid: int) -> bool:
    """Is any non-zombie process left in the group?"""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
