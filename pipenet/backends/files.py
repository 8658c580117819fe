"""Per-node /etc files under /etc/netns/NAMESPACE/: written atomically, put back exactly, never through a link.

Before writing, pipenet reads what is there (the directory may already exist
for an attached namespace); undo puts back exactly that, but only where the
file still holds what pipenet wrote: a file someone changed since, and any
symlink or other kind of file, is left alone. Directories pipenet created are
removed when empty.
"""

from __future__ import annotations

import os
import stat

from pipenet import faults
from pipenet.fsutil import write_atomic

ETC_NETNS = "/etc/netns"
#: /etc files larger than this are not read back in full (pipenet writes a few hundred bytes)
MAX_FILE = 1 << 20


def _safe(directory: str, name: str) -> str:
    _valid(directory, (name,))
    return f"{directory}/{name}"


def _valid(directory: str, names) -> None:
    """ValueError unless `directory` is one level under /etc/netns and each name a plain file name."""
    last = directory[len(ETC_NETNS) + 1:]
    if not directory.startswith(ETC_NETNS + "/") or "/" in last or last in ("", ".", ".."):
        raise ValueError(f"bad directory {directory!r}")
    for name in names:
        if "/" in name or name in (".", ".."):
            raise ValueError(f"bad file name {name!r}")


def entry(path: str) -> tuple | None:
    """What is at `path`, never following a symlink: None, ("file", text), ("symlink",) or ("other",)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        return ("symlink",)
    if not stat.S_ISREG(st.st_mode):
        return ("other",)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return ("other",)
    try:
        data = os.read(fd, MAX_FILE + 1)
    finally:
        os.close(fd)
    return ("file", data.decode("utf-8", errors="replace"))


def _real_dir(path: str) -> bool | None:
    """True: a real directory; False: nothing there; None: a symlink or something else (not usable)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return True if stat.S_ISDIR(st.st_mode) else None


def is_dir(directory: str) -> bool:
    return _real_dir(ETC_NETNS) is True and _real_dir(directory) is True


def inspect(directory: str, names: list[str], known: dict | None = None) -> dict | None:
    """{name: entry} of the files; None when the directory (or /etc/netns) is not a real directory.
    Read through one descriptor of the directory, never following a link. A file whose inode, size
    and modification time are those in `known` (what `write` returned) reads as ("same",) without
    being opened: a thousand nodes' files are looked at by every `status`."""
    _valid(directory, names)
    if _real_dir(ETC_NETNS) is None:
        return None
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return {n: None for n in names}
    except OSError:  # a symlink (ELOOP) or a file (ENOTDIR) where the directory goes
        return None
    out: dict = {}
    try:
        for n in names:
            try:
                st = os.stat(n, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                out[n] = None
                continue
            if stat.S_ISLNK(st.st_mode):
                out[n] = ("symlink",)
                continue
            if not stat.S_ISREG(st.st_mode):
                out[n] = ("other",)
                continue
            if known and list(known.get(n) or ()) == [st.st_ino, st.st_size, st.st_mtime_ns]:
                out[n] = ("same",)
                continue
            try:
                fd = os.open(n, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
            except OSError:
                out[n] = ("other",)
                continue
            try:
                out[n] = ("file", os.read(fd, MAX_FILE + 1).decode("utf-8", errors="replace"))
            finally:
                os.close(fd)
    finally:
        os.close(dfd)
    return out


def stamps(directory: str, names) -> dict:
    """{name: [inode, size, mtime_ns]} of regular files (what `inspect` may later compare with)."""
    out = {}
    for n in names:
        try:
            st = os.lstat(_safe(directory, n))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out[n] = [st.st_ino, st.st_size, st.st_mtime_ns]
    return out


def read(directory: str, names: list[str]) -> dict:
    saved = {"parent": os.path.isdir(ETC_NETNS), "dir": os.path.isdir(directory), "files": {}}
    for n in names:
        path = _safe(directory, n)  # (checked whether or not the directory is there)
        e = entry(path) if saved["dir"] else None  # (no directory: no files to look at)
        saved["files"][n] = e[1] if e is not None and e[0] == "file" else None
    return saved


def _make_dirs(directory: str) -> list[str]:
    """Make /etc/netns and the node's directory where missing; the ones made, in order."""
    made = []
    for d in (ETC_NETNS, directory):
        state = _real_dir(d)
        if state is None:
            raise OSError(17, f"{d} is not a directory pipenet can use (a symlink or a file)")
        if state is False:
            os.mkdir(d, 0o755)
            made.append(d)
    return made


def write(directory: str, files: dict[str, str]) -> dict:
    """Write the files, each atomically; the whole call is atomic too: when one write fails (a full disk),
    the files written before it get their old content back and the directories made are removed."""
    for n in files:
        _safe(directory, n)
    made = _make_dirs(directory)
    if directory in made:
        return _write_new(directory, files, made)
    before = {n: entry(_safe(directory, n)) for n in files}
    written = []
    try:
        for n, content in files.items():
            e = before[n]
            if e is not None and e[0] != "file":
                raise OSError(17, f"{directory}/{n} is a {e[0]}; pipenet never writes through one")
            write_atomic(_safe(directory, n), content.encode(), 0o644, durable=False)
            written.append(n)
        return stamps(directory, files)
    except BaseException:
        for n in written:
            try:
                if before[n] is None:
                    os.unlink(_safe(directory, n))
                else:
                    write_atomic(_safe(directory, n), before[n][1].encode(), 0o644, durable=False)
            except OSError:
                pass
        _unmake(made)
        raise


def _unmake(made: list[str]) -> None:
    """Remove the directories a failed `write` made, the deepest first (they are empty again)."""
    for d in reversed(made):
        try:
            os.rmdir(d)
        except OSError:
            pass


def _write_new(directory: str, files: dict[str, str], made: list[str]) -> dict:
    """`write` into a directory this call has just made: nothing can be there, so each file is made in
    place (O_EXCL, through a descriptor of the directory) instead of through a temporary name and a
    rename, and its stamp is read from its descriptor (5 system calls a file instead of 8, at thousands
    of nodes). A run killed in the middle of a file leaves that file torn in a directory of its own,
    which is what it left before (a temporary file), and a later `up` writes it again. On a failure
    the files and the directories made are removed."""
    out = {}
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for n, content in files.items():
            faults.point("write", os.path.join(directory, n))
            fd = os.open(n, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
            try:
                data = memoryview(content.encode())
                while data:
                    data = data[os.write(fd, data):]
                os.fchmod(fd, 0o644)  # (whatever the umask)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            out[n] = [st.st_ino, st.st_size, st.st_mtime_ns]
            faults.point("written", os.path.join(directory, n))
        return out
    except BaseException:
        for n in files:
            try:
                os.unlink(n, dir_fd=dfd)
            except OSError:
                pass
        _unmake(made)
        raise
    finally:
        os.close(dfd)


def _ours(path: str, content: str | None) -> bool:
    e = entry(path)
    return e is not None and e[0] == "file" and content is not None and e[1] == content


def put_back(directory: str, contents: dict[str, str | None], ours: dict[str, str]) -> None:
    """Give each file the content it had (None: it did not exist), where it still holds pipenet's."""
    for n, content in contents.items():
        p = _safe(directory, n)
        if not _ours(p, ours.get(n)):
            continue  # changed by someone since, or not a plain file: not pipenet's to touch
        if content is None:
            os.unlink(p)
        else:
            write_atomic(p, content.encode(), 0o644, durable=False)


def restore(directory: str, saved: dict, ours: dict[str, str] | None = None) -> None:
    if _real_dir(directory) is not True:
        return
    put_back(directory, saved.get("files", {}), ours if ours is not None else {})
    if not saved.get("dir", True):
        try:
            os.rmdir(directory)
        except OSError:
            pass
    if not saved.get("parent", True):
        try:
            os.rmdir(ETC_NETNS)
        except OSError:
            pass
