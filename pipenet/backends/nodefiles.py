"""A node's own files and private directories, kept on the host under pipenet's state directory.

Each node has a directory (`STATE/nodes/NODE`) that mirrors the paths the
file gives it: `file /etc/frr/zebra.conf` is kept at
`STATE/nodes/NODE/etc/frr/zebra.conf`, `private /var/run/frr` at
`STATE/nodes/NODE/var/run/frr`. The node's processes see them through bind
mounts made in their own mount namespace (`pipenet.backends.enter`), so the
host's paths are never written. Everything here works on that mirror only:
a path outside it, or a symlink anywhere in it, is refused, never followed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat

from pipenet.fsutil import remove_tree, write_atomic

#: a node's file is kept in the record, so it stays small
MAX_FILE = 1 << 20


def digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def _inside(root: str, source: str) -> None:
    if not root.startswith("/") or not source.startswith(root.rstrip("/") + "/") or "/../" in source + "/" \
            or "/./" in source + "/" or "//" in source:
        raise ValueError(f"{source!r} is not a path under {root!r}")


def inspect(root: str, source: str) -> dict | None:
    """What is at `source` (never following a symlink): None, or {"kind": "file" | "dir" | "other",
    "uid", "gid", "mode", and for a file "digest"}."""
    _inside(root, source)
    try:
        st = os.lstat(source)
    except (FileNotFoundError, NotADirectoryError):
        return None
    out = {"uid": st.st_uid, "gid": st.st_gid, "mode": stat.S_IMODE(st.st_mode)}
    if stat.S_ISDIR(st.st_mode):
        return dict(out, kind="dir")
    if not stat.S_ISREG(st.st_mode):
        return dict(out, kind="other")
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return dict(out, kind="other")
    try:
        data = os.read(fd, MAX_FILE + 1)
    finally:
        os.close(fd)
    return dict(out, kind="file", digest=hashlib.sha256(data).hexdigest())


def _parents(root: str, source: str) -> None:
    """Make the directories between `root` and `source` (root's own first: 0700, for pipenet only;
    the others 0755: a file inside a private directory is reached through them)."""
    if not os.path.isdir(root) or os.path.islink(root):
        os.makedirs(root, 0o700, exist_ok=True)
    here = root
    for part in os.path.dirname(source)[len(root) + 1:].split("/"):
        if not part:
            continue
        here = os.path.join(here, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            os.mkdir(here, 0o755 if here != os.path.join(root, part) else 0o700)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise OSError(17, f"{here} is not a directory pipenet made (a symlink or a file)")


def put(root: str, source: str, what: str, content: str | None, uid: int, gid: int, mode: int) -> None:
    """Make the file (with `content`) or the private directory at `source`, owned and moded as given;
    an existing one of the same kind is put right in place (a private directory keeps its content)."""
    _inside(root, source)
    _parents(root, source)
    here = inspect(root, source)
    try:
        _put(source, what, content, uid, gid, mode, here)
    except BaseException:
        if here is None:  # made by this call: not left half made (an owner the kernel refused)
            remove(root, source, what)
        raise


def _put(source: str, what: str, content: str | None, uid: int, gid: int, mode: int, here: dict | None) -> None:
    if what == "file":
        if here is not None and here["kind"] != "file":
            raise OSError(17, f"{source} is a {here['kind']}, not a file pipenet made")
        write_atomic(source, (content or "").encode(), mode, durable=False)
    else:
        if here is not None and here["kind"] != "dir":
            raise OSError(17, f"{source} is a {here['kind']}, not a directory pipenet made")
        if here is None:
            os.mkdir(source, 0o700)
    try:
        os.chown(source, uid, gid, follow_symlinks=False)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        raise OSError(e.errno, f"owner {uid}:{gid} does not exist here (an unprivileged sandbox maps only "
                               f"its own user, as root): leave `owner` out, or bring the lab up as root") from None
    _chmod_here(source, mode)  # after chown, which clears set-id bits


def _chmod_here(path: str, mode: int) -> None:
    """chmod of the file or directory at path itself, never of what a link put there points to (the
    node's user may swap a name in its private directory for a link while `up` runs)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def remove(root: str, source: str, what: str) -> None:
    """Remove the file or the private directory (with whatever the node put in it), then the
    directories of the mirror left empty, up to and including `root`."""
    _inside(root, source)
    here = inspect(root, source)
    if here is not None:
        if what == "file" and here["kind"] == "file":
            os.unlink(source)
        elif what == "private" and here["kind"] == "dir":
            remove_tree(source)
    d = os.path.dirname(source)
    while len(d) >= len(root):
        try:
            os.rmdir(d)
        except OSError:
            break
        d = os.path.dirname(d)
