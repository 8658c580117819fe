"""Per-node /etc files under /etc/netns/NAMESPACE/: written atomically, restored exactly.

Before writing, pipenet reads what is there (the directory may already exist
for an attached namespace); undo puts back exactly that: files it created
are removed, files it replaced get their old content back, and directories it
created are removed when empty.
"""

from __future__ import annotations

import os

from pipenet.fsutil import write_atomic

ETC_NETNS = "/etc/netns"


def _safe(directory: str, name: str) -> str:
    if "/" in name or name in (".", ".."):
        raise ValueError(f"bad file name {name!r}")
    if not directory.startswith(ETC_NETNS + "/") or "/" in directory[len(ETC_NETNS) + 1:]:
        raise ValueError(f"bad directory {directory!r}")
    return os.path.join(directory, name)


def read(directory: str, names: list[str]) -> dict:
    saved = {"parent": os.path.isdir(ETC_NETNS), "dir": os.path.isdir(directory), "files": {}}
    for n in names:
        p = _safe(directory, n)
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p) as f:
                saved["files"][n] = f.read()
        else:
            saved["files"][n] = None
    return saved


def write(directory: str, files: dict[str, str]) -> None:
    for n in files:
        _safe(directory, n)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    for n, content in files.items():
        write_atomic(_safe(directory, n), content.encode(), 0o644, durable=False)


def restore(directory: str, saved: dict) -> None:
    for n, content in saved.get("files", {}).items():
        p = _safe(directory, n)
        if content is None:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        else:
            write_atomic(p, content.encode(), 0o644, durable=False)
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
