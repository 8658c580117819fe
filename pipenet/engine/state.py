"""Where a topology's record lives, and how it is written and locked.

`/run/pipenet/TOPOLOGY/` as root (or under $XDG_RUNTIME_DIR for a sandbox
without root), mode 0700:
- `record.json`: what pipenet made (the ops, in order, with saved state),
  the namespace of each node, resolved `address auto` subnets, chosen ports;
  written atomically after a successful `up`.
- `journal.jsonl`: written during an `up` or `down`, one line per step,
  flushed to disk before the kernel is touched; left behind only by a run
  that was killed, and then finished or undone by the next run.
- `lock`: flock'ed for the whole of a run, so a second `up` waits.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager

from pipenet.fsutil import make_private_dir, write_atomic

RECORD_VERSION = 1


def state_root() -> str:
    env = os.environ.get("PIPENET_STATE_DIR")
    if env:
        return env
    return "/run/pipenet"


class StateDir:
    def __init__(self, topology: str, root: str | None = None):
        if not topology or "/" in topology or topology.startswith("."):
            raise ValueError(f"bad topology name {topology!r}")
        self.topology = topology
        self.root = root or state_root()
        self.path = os.path.join(self.root, topology)

    @property
    def record_path(self) -> str:
        return os.path.join(self.path, "record.json")

    @property
    def journal_path(self) -> str:
        return os.path.join(self.path, "journal.jsonl")

    def ensure(self) -> None:
        make_private_dir(self.root)
        make_private_dir(self.path)

    def exists(self) -> bool:
        return os.path.exists(self.record_path)

    def load(self) -> dict | None:
        try:
            with open(self.record_path, "rb") as f:
                return json.loads(f.read())
        except FileNotFoundError:
            return None

    def refresh(self, ops) -> None:
        """Write back the saved state of recorded ops that were re-made by a rollback (a process
        started again has a new pid), so the record stays true."""
        record = self.load()
        if record is None or not ops:
            return
        fresh = {op.key: op.to_json() for op in ops}
        record["ops"] = [fresh.get(_key(o), o) for o in record.get("ops", [])]
        self.save(record)

    def save(self, record: dict) -> None:
        self.ensure()
        record = dict(record, version=RECORD_VERSION, written=time.time())
        write_atomic(self.record_path, json.dumps(record, indent=1, sort_keys=True).encode(), 0o600)

    def remove(self) -> None:
        """Remove the record, the journal, the lock and the logs, then the topology's directory
        (the state root stays: pipenet may not be the one that made it)."""
        for name in ("record.json", "journal.jsonl", "lock", "claim.json"):
            try:
                os.unlink(os.path.join(self.path, name))
            except FileNotFoundError:
                pass
        logs = os.path.join(self.path, "logs")
        if os.path.isdir(logs) and not os.path.islink(logs):
            shutil.rmtree(logs, ignore_errors=True)
        for extra in sorted(os.listdir(self.path)) if os.path.isdir(self.path) else ():
            p = os.path.join(self.path, extra)
            if os.path.isfile(p) and not os.path.islink(p):
                os.unlink(p)
        try:
            os.rmdir(self.path)
        except OSError:
            pass

    @contextmanager
    def lock(self, wait_message: str | None = None):
        """Hold this topology's lock; tell the person when another run holds it, then wait."""
        self.ensure()
        fd = os.open(os.path.join(self.path, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                sys.stderr.write(wait_message or f"pipenet: another pipenet is working on {self.topology}; waiting\n")
                sys.stderr.flush()
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _key(op_json: dict) -> str:
    from pipenet.plan.ops import Op

    return Op.from_json(op_json).key


def all_topologies(root: str | None = None) -> list[str]:
    root = root or state_root()
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [n for n in names if os.path.exists(os.path.join(root, n, "record.json"))
            or os.path.exists(os.path.join(root, n, "journal.jsonl"))]
