"""What an `up` depends on, as one digest, so that `up` of an unchanged file needs no work.

The operations `up` makes are a function of: the file's text and its `--var` values, the host's
/etc/resolv.conf (copied into containers that name no DNS server), where the
topology's state lives (its logs), the host ports chosen for `publish-all`
(kept in the record, so fixed once chosen for the same text) and pipenet's
own code. Two forms also depend on the live host at every run: `address auto`
(a subnet is chosen among those free *now*) and `attach docker` (a container's
current PID). A topology using either gets no digest, and every `up` of it
plans in full; so does one with a `file PATH from "SRC"` (SRC may have changed
while the topology's own text did not).

After every successful `up`, the file's absolute path and the digest are
written beside the record (`inputs.json`). The next `up` of the same path
computes the digest before anything is parsed; when it matches, and no
interrupted run waits to be finished, the answer is "nothing to change" at
once (a few milliseconds, where parsing, compiling and comparing a thousand
containers takes a tenth of a second). Any change to any input gives another
digest and the full plan runs. The digest proves only that the file asks for
what it asked for: the caller must also prove that the live system is what
that made (`status.live_as_recorded`, the same checks `status` and the
planner use) before answering "nothing to change".
"""

from __future__ import annotations

import hashlib
import json
import os

from pipenet.engine.state import StateDir, all_topologies, state_root
from pipenet.fsutil import write_atomic

NAME = "inputs.json"
_CODE: list[str] = []


def code_fingerprint() -> str:
    """pipenet's own code, by the size and modification time of every file of the package."""
    if not _CODE:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        h = hashlib.sha256()
        for base, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for f in sorted(files):
                st = os.stat(os.path.join(base, f))
                h.update(f"{os.path.relpath(os.path.join(base, f), root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
        _CODE.append(h.hexdigest())
    return _CODE[0]


def host_resolv() -> str:
    """The host's /etc/resolv.conf: the DNS servers of containers that name none."""
    try:
        with open("/etc/resolv.conf") as f:
            return f.read()
    except OSError:
        return ""


def digest(text: str, topology: str) -> str:
    from pipenet.variables import CURRENT  # --var values: another value is another up

    parts = [code_fingerprint(), text, host_resolv(), StateDir(topology).path]
    if CURRENT:
        parts.append(sorted(CURRENT.items()))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def eligible(topo) -> bool:
    """False when the topology depends on the live host at every run (see the module's docstring)."""
    return not (any(b.auto for b in topo.bridges)
                or any(c.attach is not None and c.attach.kind == "docker" for c in topo.containers)
                or any(p.source is not None for c in topo.containers for p in c.paths))


def remember(path: str, text: str, topo, k=None) -> None:
    """After a successful `up`: what it depended on (or nothing, when it depends on the live host)."""
    where = os.path.join(StateDir(topo.name).path, NAME)
    if not eligible(topo) or path.startswith("<"):  # (a lab given as text, from Python: no file to stat)
        try:
            os.unlink(where)
        except FileNotFoundError:
            pass
        return
    doc = {"file": os.path.abspath(path), "digest": digest(text, topo.name)}
    try:
        write_atomic(where, json.dumps(doc).encode(), 0o600)
    except OSError:  # a cache: without it the next `up` plans in full (a full disk, say)
        try:
            os.unlink(where)
        except OSError:
            pass


def _recorded(name: str) -> dict:
    try:
        with open(os.path.join(state_root(), name, NAME), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _text(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _matches(name: str, where: str, text: str) -> bool:
    doc = _recorded(name)
    return doc.get("file") == where and doc.get("digest") == digest(text, name)


def unchanged(path: str) -> str | None:
    """The topology `path` last brought up, when nothing its `up` depends on has changed; else None."""
    text = _text(path)
    if text is None:
        return None
    where = os.path.abspath(path)
    return next((name for name in all_topologies() if _matches(name, where, text)), None)


def still_unchanged(path: str, name: str) -> bool:
    """Under the topology's lock: the record is there, no interrupted run is pending, the digest holds."""
    state = StateDir(name)
    if not os.path.exists(state.record_path) or os.path.exists(state.journal_path):
        return False
    text = _text(path)
    return text is not None and _matches(name, os.path.abspath(path), text)
