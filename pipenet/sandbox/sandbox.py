"""`--sandbox`: a whole topology, `host` included, in private namespaces kept by a holder.

Outside the sandbox only a small record is kept: `sandbox.json` in the
topology's directory under the outer state root (/run/pipenet as root,
$XDG_RUNTIME_DIR/pipenet otherwise, or a private 0700 directory under the
temporary directory when that is unset), naming the holder's pid, its start
time, whether it has a user namespace, its private /etc layer and the nodes.
Everything else (the record, the journal, the logs, /run/netns, /etc/netns)
lives inside the sandbox, where pipenet runs exactly as it does on a machine.

A command that names a sandboxed topology enters it first: while still
single-threaded, it joins the holder's user namespace (when it has one),
then its mount, network, UTS and PID namespaces, goes back to its working
directory and carries on as root of the sandbox.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time

from pipenet.backends import linux
from pipenet.backends.processes import start_time
from pipenet.fsutil import locked_dir, make_private_dir, remove_tree, write_atomic


def outer_root() -> str:
    env = os.environ.get("PIPENET_SANDBOX_DIR")
    if env:
        return env
    if os.geteuid() == 0:
        return "/run/pipenet"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return os.path.join(xdg, "pipenet")
    return os.path.join(tempfile.gettempdir(), f"pipenet-{os.getuid()}")


def record_path(name: str) -> str:
    return os.path.join(outer_root(), name, "sandbox.json")


def _root_is_own(root: str) -> bool:
    """Records are read only from a real directory of this user: `save` refuses any other (a
    symlink, another user's directory), so what is there is not a record pipenet kept."""
    try:
        st = os.lstat(root)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()


def load(name: str) -> dict | None:
    if not _root_is_own(outer_root()):
        return None
    try:
        with open(record_path(name)) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def all_sandboxes() -> list[str]:
    root = outer_root()
    if not _root_is_own(root):
        return []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [n for n in names if os.path.exists(os.path.join(root, n, "sandbox.json"))]


def alive(rec: dict) -> bool:
    """The holder still runs (a zombie awaiting its reaper does not count)."""
    from pipenet.backends.processes import alive as process_alive

    return process_alive(rec)


def save(name: str, rec: dict) -> None:
    root = outer_root()
    make_private_dir(root)
    make_private_dir(os.path.join(root, name))
    write_atomic(record_path(name), json.dumps(rec).encode(), 0o600)


def forget(name: str, rec: dict | None = None) -> None:
    """Remove the outer record (and the private /etc layer a dead holder left behind)."""
    if rec and rec.get("workdir", "").startswith(tempfile.gettempdir()):
        remove_tree(rec["workdir"])
    for p in (record_path(name),):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    _forget_dirs(name)


def _forget_dirs(name: str) -> None:
    """Remove the topology's outer directory, and the outer root, when they are empty."""
    for x in (os.path.join(outer_root(), name), outer_root()):
        try:
            os.rmdir(x)
        except OSError:
            pass


def creating():
    """Held while a sandbox is looked for and made (a lock on the outer directory): two processes that
    bring the same topology up at once (pytest-xdist workers) make one sandbox, and the second finds
    the first's, instead of two holders of which one is lost."""
    return locked_dir(outer_root())


def start(name: str) -> dict:
    """Start a holder for `name` and record it. When the record cannot be kept (the outer directory
    is a symlink or another user's), no holder is started; should keeping it fail all the same, the
    holder is stopped and its private layer removed: a refused sandbox leaves nothing behind."""
    user = os.geteuid() != 0
    try:
        make_private_dir(outer_root())
        make_private_dir(os.path.join(outer_root(), name))
    except OSError as e:
        raise OSError(e.errno or 1, f"cannot create the sandbox: {e.strerror or e}") from e
    argv = [sys.executable, "-m", "pipenet.sandbox.holder", "--daemon"] + (["--user"] if user else [])
    r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
                       start_new_session=True)
    words = r.stdout.split()
    if r.returncode != 0 or not words or words[0] != "ready":
        why = " ".join(words[1:]) or r.stderr.strip().splitlines()[-1:] or "unknown error"
        _forget_dirs(name)
        raise OSError(1, f"cannot create the sandbox: {why}")
    pid = int(words[1])
    rec = {"pid": pid, "start": start_time(pid), "user": user, "workdir": words[2], "nodes": [],
           "created": time.time()}
    try:
        save(name, rec)
    except OSError as e:
        stop(name, rec)
        raise OSError(e.errno or 1, f"cannot create the sandbox: {e.strerror or e}") from e
    return rec


def stop(name: str, rec: dict) -> None:
    """End the holder (and with it every process and namespace of the sandbox)."""
    if alive(rec):
        try:
            os.kill(rec["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(200):
            if not alive(rec):
                break
            time.sleep(0.01)
        else:
            try:
                os.kill(rec["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
    forget(name, rec)


def enter(rec: dict) -> None:
    """Join the sandbox's namespaces (this process must still be single-threaded).

    After this only a child is fully inside: a process that joined a PID namespace may fork
    into it but may not create threads; `run_inside` forks that child.
    """
    cwd = os.getcwd()
    pid = rec["pid"]
    kinds = (["user"] if rec.get("user") else []) + ["mnt", "net", "uts", "pid"]
    fds = {k: os.open(f"/proc/{pid}/ns/{k}", os.O_RDONLY | os.O_CLOEXEC) for k in kinds}
    flags = {"user": linux.CLONE_NEWUSER, "mnt": linux.CLONE_NEWNS, "net": linux.CLONE_NEWNET,
             "uts": linux.CLONE_NEWUTS, "pid": linux.CLONE_NEWPID}
    try:
        for k in kinds:
            linux.setns(fds[k], flags[k])
    finally:
        for fd in fds.values():
            os.close(fd)
    os.environ["PIPENET_IN_SANDBOX"] = "1"
    os.environ["PIPENET_CWD"] = cwd


def _become_inside(rec: dict, close: int | None = None) -> None:
    """In a forked child: enter the sandbox, then fork again so that only the grandchild goes on, wholly
    inside the sandbox's PID namespace, in the caller's directory (or /). The child in between waits for
    it and ends with its status (closing `close` first: the grandchild's end of a pipe)."""
    enter(rec)
    inner = os.fork()
    if inner != 0:
        if close is not None:
            os.close(close)
        _, st = os.waitpid(inner, 0)
        os._exit(os.waitstatus_to_exitcode(st))
    try:
        os.chdir(os.environ["PIPENET_CWD"])
    except OSError:
        os.chdir("/")


def run_inside(rec: dict, fn, capture: bool = False) -> tuple[int, bytes]:
    """Run fn() in a forked child that enters the sandbox; return its exit status (and stdout if captured)."""
    r = w = None
    if capture:
        r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if w is not None:
                os.close(r)
                os.dup2(w, 1)
            _become_inside(rec)
            fn()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException as e:  # noqa: BLE001 - reported, then the child ends
            if str(e):  # (an interruption has no words)
                sys.stderr.write(f"pipenet: {e}\n")
            code = 130 if isinstance(e, KeyboardInterrupt) else 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:
                pass
        os._exit(code)
    out = b""
    if w is not None:
        os.close(w)
        chunks = []
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
        os.close(r)
        out = b"".join(chunks)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out


def call_inside(rec: dict, fn):
    """fn() inside the sandbox, its value returned (or its exception raised) here: the grandchild that
    runs it sends the result back pickled. What fn prints goes to this process's terminal."""
    import pickle

    rfd, wfd = os.pipe()

    def wrapped():
        os.close(rfd)
        try:
            outcome = ("value", fn())
        except SystemExit as e:
            outcome = ("exit", e.code)
        except BaseException as e:  # noqa: BLE001 - handed back to the caller
            outcome = ("error", e)
        try:
            data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001 - an exception that cannot cross: its words can
            data = pickle.dumps(("error", RuntimeError(str(outcome[1]) if len(outcome) > 1 else str(e))))
        view = memoryview(data)
        while view:
            view = view[os.write(wfd, view):]
        os.close(wfd)

    code_box: list = []
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _become_inside(rec, close=wfd)
            wrapped()
        except BaseException as e:  # noqa: BLE001 - the child never returns into the caller's code
            try:
                if str(e):  # (an interruption has no words)
                    sys.stderr.write(f"pipenet: {e}\n")
            except Exception:
                pass
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except Exception:
                pass
        os._exit(code)
    os.close(wfd)
    chunks = []
    try:
        while True:
            b = os.read(rfd, 1 << 16)
            if not b:
                break
            chunks.append(b)
    finally:  # (interrupted too: the child, which the same Ctrl-C reached, is waited for, never a zombie)
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
    code_box.append(os.waitstatus_to_exitcode(status))
    try:
        kind, value = pickle.loads(b"".join(chunks))
    except Exception:  # noqa: BLE001
        from pipenet.errors import UsageError

        raise UsageError(f"the sandbox ended without an answer (status {code_box[0]}): its holder was "
                         f"stopped, or the lab was taken down meanwhile") from None
    if kind == "error":
        raise value
    if kind == "exit":
        raise SystemExit(value)
    return value
