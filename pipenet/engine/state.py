"""Where a topology's record lives, and how it is written, read back and locked.

`/run/pipenet/TOPOLOGY/` as root (or under $XDG_RUNTIME_DIR for a sandbox
without root), mode 0700:
- `record.json`: what pipenet made (the ops, in order, with saved state),
  the namespace of each node, resolved subnets, chosen ports, and a
  *generation* that grows by one with every change; written atomically.
- `journal.jsonl`: written during an `up` or `down`, one line per step,
  flushed to disk before the kernel is touched. Its header names the
  generation of the record it started from: a journal whose base is not the
  record's generation belongs to a run that committed (its record was
  written, then the run died before removing the journal) and is simply
  removed; one whose base is the record's generation belongs to a run that
  was killed, and the next run takes over what it started.
- `lock`: flock'ed for the whole of a run, so a second `up` waits.

Every file is checked when read (its shape and version); one that cannot be
trusted is reported in one line naming it and what to do (`CorruptState`).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import sys
import time
from contextlib import contextmanager

from pipenet import faults
from pipenet.errors import CorruptState, UsageError
from pipenet.fsutil import make_private_dir, remove_tree, unlock_and_close, write_atomic

RECORD_VERSION = 2
#: every key a record holds, with the type it must have
_RECORD_SHAPE = {"topology": str, "ops": list, "ns": dict, "generation": int, "version": int}


#: the C encoder, made once (json.dumps with options makes a new encoder each call: a third slower here)
_encode = json.JSONEncoder(sort_keys=True, check_circular=False).encode  # (plain data: no cycle to look for)


def readable_json(record: dict) -> str:
    """The record as JSON people can read (its keys sorted, one per line; each operation, namespace or
    other entry of a list or object on a line of its own), built from pieces made by the C encoder:
    `json.dumps(..., indent=...)` falls back to the pure-Python one, five times slower (0.2 s for the
    record of 4,000 containers)."""
    lines = []
    for key in sorted(record):
        value = record[key]
        if isinstance(value, list) and value:
            inner = ",\n  ".join([_encode(v) for v in value])
            text = f"[\n  {inner}\n ]"
        elif isinstance(value, dict) and value:
            inner = ",\n  ".join([f"{_encode(str(k))}: {_encode(value[k])}" for k in sorted(value)])
            text = f"{{\n  {inner}\n }}"
        else:
            text = _encode(value)
        lines.append(f" {_encode(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def state_root() -> str:
    """Where records live: /run/pipenet, or PIPENET_STATE_DIR. That must be an absolute path; when it
    names a directory every user may write (say /tmp), pipenet keeps its state in a subdirectory of
    its own there (`pipenet-UID`), never changing the shared directory itself."""
    env = os.environ.get("PIPENET_STATE_DIR")
    if not env:
        return "/run/pipenet"
    if not os.path.isabs(env):
        raise UsageError(f"PIPENET_STATE_DIR must be an absolute path, not {env!r}")
    try:
        st = os.lstat(env)
    except OSError:  # not there yet, or out of this user's reach (which reading it reports)
        return env
    if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o002:
        return os.path.join(env, f"pipenet-{os.getuid()}")
    return env


def check_name(topology: str) -> str:
    """A topology name is a directory name under the state root: never a path, never hidden."""
    if not topology or "/" in topology or topology.startswith(".") or "\0" in topology or len(topology) > 64:
        from pipenet.words import quoted

        raise UsageError(f"{quoted(topology)} is not a topology name (a letter or _ first, then letters, "
                         f"digits, _ - .; at most 64)")
    return topology


class StateDir:
    def __init__(self, topology: str, root: str | None = None):
        self.topology = check_name(topology)
        self.root = root or state_root()
        self.path = os.path.join(self.root, topology)
        self._read: bytes | None = None  # (the record's bytes, as `load` last read them)
        self._read_digest: str | None = None  # (their SHA-256, once asked for)

    @property
    def record_path(self) -> str:
        return os.path.join(self.path, "record.json")

    @property
    def journal_path(self) -> str:
        return os.path.join(self.path, "journal.jsonl")

    @property
    def reserve_path(self) -> str:
        return os.path.join(self.path, ".reserve")

    def ensure(self) -> None:
        try:
            make_private_dir(self.root)
            make_private_dir(self.path)
        except PermissionError as e:
            raise CorruptState(f"cannot keep pipenet's state: {e.strerror or e}") from None
        except OSError as e:
            raise CorruptState(f"cannot keep pipenet's state in {self.path}: {e.strerror or e}") from None

    def exists(self) -> bool:
        try:
            rec = self.load()
        except CorruptState:
            return True
        return rec is not None and not rec.get("down")

    def load(self) -> dict | None:
        """The record, checked; None when there is none. A record that cannot be trusted raises
        CorruptState with one line naming the file and the way out."""
        try:
            with open(self.record_path, "rb") as f:
                data = f.read(256 << 20)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise self.corrupt("is a directory, not a record") from None
        except PermissionError:  # root's record, read by another user: not a broken one
            raise UsageError(f"only root can read the record of {self.topology} ({self.record_path}); run as "
                             f"root, or use a sandbox") from None
        except OSError as e:
            raise self.corrupt(f"cannot be read ({e.strerror})") from None
        self._read, self._read_digest = data, None
        try:
            record = json.loads(data)
        except (ValueError, RecursionError):
            what = "is empty" if not data.strip() else "is not valid JSON (truncated or overwritten?)"
            raise self.corrupt(what) from None
        if not isinstance(record, dict):
            raise self.corrupt("is not a pipenet record")
        version = record.get("version")
        if isinstance(version, int) and version > RECORD_VERSION:
            raise CorruptState(f"{self.record_path} was written by a newer pipenet (record version {version}; this "
                               f"one reads {RECORD_VERSION}): use that pipenet to manage {self.topology}, or `pipenet "
                               f"down --force {self.topology}` to remove what carries its marks")
        if isinstance(version, int) and version < RECORD_VERSION:
            raise CorruptState(f"{self.record_path} was written by an older pipenet (record version {version}): "
                               f"take {self.topology} down with that version, or run `pipenet down --force "
                               f"{self.topology}`")
        for key, kind in _RECORD_SHAPE.items():
            if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
                raise self.corrupt(f"has no valid {key!r}")
        if not isinstance(record.get("runtime", {}), dict):  # (optional: overrides set at runtime)
            raise self.corrupt("has no valid 'runtime'")
        if record["topology"] != self.topology:
            raise self.corrupt(f"belongs to topology {record['topology']!r}")
        return record

    def digest_read(self) -> str | None:
        """SHA-256 of the record's bytes as `load` last read them (None before): what a cache of
        answers about this very record is keyed by (`engine.verified`)."""
        import hashlib

        if self._read_digest is None and self._read is not None:  # (once: the memo is read and written)
            self._read_digest = hashlib.sha256(self._read).hexdigest()
        return self._read_digest

    def corrupt(self, what: str) -> CorruptState:
        return CorruptState(f"{self.record_path} {what}; `pipenet down --force {self.topology}` removes what "
                            f"carries {self.topology}'s marks on the live system, and the state with it")

    def save(self, record: dict) -> dict:
        """Write the record, with its version and time of writing; return it as written. Its bytes are
        then the record as read (`digest_read`): what a memo of it is keyed by (`engine.vouch`)."""
        self.ensure()
        record = dict(record, version=RECORD_VERSION, written=time.time())
        data = readable_json(record).encode()
        write_atomic(self.record_path, data, 0o600)
        self._read, self._read_digest = data, None
        return record

    # ---- space for the end of a run -------------------------------------------------------------------
    def reserve(self, size: int) -> None:
        """Hold `size` bytes of the file system for the record written at the end of a run, so a disk
        that fills up meanwhile cannot leave a run applied and unrecorded (ENOSPC here, before any
        change, is a clean refusal)."""
        from pipenet.backends import linux

        self.release_reserve()
        fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            linux.fallocate(fd, size)
        except OSError:
            os.close(fd)
            self.release_reserve()
            raise
        os.close(fd)

    def release_reserve(self) -> None:
        try:
            os.unlink(self.reserve_path)
        except FileNotFoundError:
            pass

    def remove(self) -> None:
        """Remove the record, the journal, the lock, the logs and the nodes' own files, then the topology's
        directory (the state root stays: pipenet may not be the one that made it)."""
        faults.point("unlink", self.record_path)
        for name in ("record.json", "journal.jsonl", "lock", "claim.json", ".reserve", "inputs.json",
                     "verified.json"):
            try:
                os.unlink(os.path.join(self.path, name))
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                pass
        for own in ("logs", "nodes"):  # (nodes: the nodes' `file`s and `private` directories, plan/ops/nodefiles.py)
            d = os.path.join(self.path, own)
            if os.path.isdir(d) and not os.path.islink(d):
                remove_tree(d)
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
        where = os.path.join(self.path, "lock")
        try:
            fd = os.open(where, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise CorruptState(f"{where} is not a lock file pipenet can use ({e.strerror}); remove it") from None
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
            unlock_and_close(fd)


def all_topologies(root: str | None = None) -> list[str]:
    """Topologies that are up (or have a run to finish), by their state directories (a record or a
    journal there; records are not read: a thousand-container record takes milliseconds to parse)."""
    root = root or state_root()
    try:
        names = sorted(os.listdir(root))
    except (FileNotFoundError, NotADirectoryError):
        return []  # (PermissionError: another user's state, which the caller reports)
    return [n for n in names if not n.startswith(".") and (
        os.path.exists(os.path.join(root, n, "record.json")) or os.path.exists(os.path.join(root, n, "journal.jsonl")))]
