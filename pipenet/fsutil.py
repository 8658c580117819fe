"""Files written the safe way: atomically, never through a symlink.

A file is written to a temporary name in the same directory (opened with
O_EXCL|O_NOFOLLOW), flushed (and fsynced unless `durable=False`, for files
that describe runtime state and vanish at reboot anyway), then renamed over
the target, so a reader sees the old file or the new one, never half of one,
and a symlink planted at the target is replaced, not followed.
"""

from __future__ import annotations

import fcntl
import os
import stat
from contextlib import contextmanager

from pipenet import faults


def write_atomic(path: str, data: bytes, mode: int | None = 0o600, durable: bool = True) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if mode is None:
        try:
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else 0o644
        except FileNotFoundError:
            mode = 0o644
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    faults.point("write", path)
    try:
        os.unlink(tmp)  # left by a process of this pid that was killed (pids are reused)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        faults.point("written", path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@contextmanager
def locked_dir(path: str):
    """Hold an exclusive flock on a private directory itself (no lock file is left behind)."""
    make_private_dir(path)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        unlock_and_close(fd)


def write_if_possible(path: str, data: bytes) -> None:
    """Write `data` to an existing file (a setting under /proc/sys), leaving it as it was when it cannot
    be opened or written: for settings that only spare the kernel work (no IPv6 in the kernel, or a
    sandbox without /proc/sys, is no error). /proc/sys/net shows the namespace of the calling thread."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, data)
    except OSError:
        pass
    finally:
        os.close(fd)


def unlock_and_close(fd: int) -> None:
    """Release a flock, then close: a forked child (the no-op's second process, still exiting) holds a
    copy of the descriptor, and closing ours alone would leave the lock held until it has."""
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def make_private_dir(path: str) -> None:
    """Create `path` with mode 0700 (parents as needed); refuse a symlink, a file, a directory of
    another user or one others may write at `path`. A directory that exists is never chmodded:
    pipenet changes no mode it did not set."""
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        os.makedirs(parent, mode=0o755, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise PermissionError(13, f"{path} is not a directory (a symlink or a file); pipenet will not use it")
    if st.st_uid != os.getuid():
        raise PermissionError(13, f"{path} belongs to another user; pipenet will not use it")
    if st.st_mode & 0o022:
        raise PermissionError(13, f"{path} may be written by other users; pipenet will not keep its state there")


def remove_tree(path: str) -> None:
    """Remove a directory tree even where overlayfs left a mode-000 `work` directory in it. A symlink in
    the tree is removed, never followed: the tree may hold what someone else put there (a node's private
    directory), and a chmod through a planted link would change a directory outside it."""
    import shutil

    def opened(p):
        """Make the real directory p (never through a link) writable and searchable by its owner."""
        try:
            if not os.path.islink(p) and os.path.isdir(p):
                os.chmod(p, 0o700)
        except OSError:
            pass

    def fix(func, p, exc):
        opened(os.path.dirname(p))
        opened(p)
        try:
            func(p)
        except OSError:
            pass

    if os.path.isdir(path) and not os.path.islink(path):
        for root, dirs, _files in os.walk(path):  # (os.walk does not descend into links; `opened` skips them)
            for d in dirs:
                opened(os.path.join(root, d))
        shutil.rmtree(path, onerror=fix)


#: file systems of the kernel's, not files: a bind mount over them would hide a process's view of itself
KERNEL_TREES = ("/proc", "/sys", "/dev")


def kernel_tree(path: str) -> str | None:
    """The kernel's tree (`/proc`, `/sys`, `/dev`) that `path` is in, or leads into through links on this
    machine (Debian's /etc/mtab is a link to /proc/mounts); None for an ordinary path. A mount follows
    links, so a path's spelling alone does not say where a bind mount over it lands."""
    for p in (path, os.path.realpath(path)):
        for tree in KERNEL_TREES:
            if p == tree or p.startswith(tree + "/"):
                return tree
    return None
