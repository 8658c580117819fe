"""What the last check that found a topology live as made read in each of its namespaces: a digest each.

The no-op `up` (an unchanged file) must prove that the live system is what
the record says before it answers "nothing to change", and at thousands of
containers most of that proof was decoding every namespace's netlink dumps
and checking the same answers again. After a check that finds every
operation live as made, pipenet keeps here the digest of each namespace's
three dumps as it read them (`kernel.Raw`: links, addresses, routes, with the
namespace's inode). The next check still reads every namespace from the
kernel, but decodes and checks again only those whose dumps differ in any
byte; an operation decided by its namespaces' dumps alone (`Op.vouched_by`)
in one that has not changed would answer as it did, and is not checked.
What the dumps do not hold (the host's interfaces, files, firewall rules,
settings, processes) is checked every time.

It keeps too, of each of the host's bridge ports, its index and what the
bridges' own dump of their ports does not send (its alias, which is
pipenet's mark, and its group): the next check reads the host's ports from
that dump, a seventh of the cost of the host's link dump at 4,000 ports,
and takes those from here for the port with the same name and index, the
same interface (`backends.hostlinks`, which says what that trusts). With
them, every other field of the port a check reads (MAC, MTU, state, bridge,
peer, hairpin mode): a port whose fields are all as then is not checked
again, as a namespace whose dumps are as then.

`verified.json` beside the record: {"version", "key", "namespaces": {ref:
digest}, "ports": {name: [index, alias, group, MAC, MTU, up, bridge, peer's
index, hairpin]}}. The key is the record's generation, its time of writing and the
SHA-256 of its bytes as read, and pipenet's own code
(`inputs.code_fingerprint`): a record written again or changed in any byte
(edited, restored from a copy), or another pipenet, and the digests are not
used. A file that cannot be read or does not have this shape is no memo at
all: everything is checked. `plan` writes it too (a cache of what it read,
never a change to the system): it runs without the topology's lock, and what
it writes is keyed by the record it read.
"""

from __future__ import annotations

import json
import os

from pipenet.engine.state import StateDir
from pipenet.fsutil import write_atomic

NAME = "verified.json"
VERSION = 2  # (2: with the host's bridge ports)


def _key(state: StateDir, record: dict) -> list | None:
    from pipenet.engine.inputs import code_fingerprint

    written = record.get("written")
    read = state.digest_read()
    if not isinstance(written, (int, float)) or isinstance(written, bool) or read is None:
        return None
    return [record.get("generation"), written, read, code_fingerprint()]


def load(state: StateDir, record: dict) -> dict[str, str]:
    """{namespace ref: digest} kept for this record by the last check that found it all live, or {}."""
    return load_both(state, record)[0]


def load_both(state: StateDir, record: dict) -> tuple[dict[str, str], dict[str, list]]:
    """What `load` returns, and {name: identity} of the host's bridge ports as that check read them
    (`hostlinks.identity`; {} when none were kept)."""
    key = _key(state, record)
    if key is None:
        return {}, {}
    try:
        with open(os.path.join(state.path, NAME), "rb") as f:
            kept = json.loads(f.read(64 << 20))
    except (OSError, ValueError, RecursionError):
        return {}, {}
    if not isinstance(kept, dict) or kept.get("version") != VERSION or kept.get("key") != key:
        return {}, {}
    found = kept.get("namespaces")
    if not isinstance(found, dict):
        return {}, {}
    ports = kept.get("ports")
    return ({r: d for r, d in found.items() if isinstance(r, str) and r and isinstance(d, str)},
            {n: p for n, p in ports.items() if _identity(n, p)} if isinstance(ports, dict) else {})


#: the types of what `hostlinks.identity` keeps of a port, field by field (None allowed where listed)
_PORT_FIELDS = ((int, False), (str, True), (int, False), (str, True), (int, True), (bool, False), (str, True),
                (int, True), (bool, True))


def _identity(name, port) -> bool:
    """Is this what `hostlinks.identities` keeps of a port: a name, and its `identity`?"""
    return (isinstance(name, str) and bool(name) and isinstance(port, list) and len(port) == len(_PORT_FIELDS)
            and all((v is None and none) or type(v) is t for v, (t, none) in zip(port, _PORT_FIELDS))
            and port[0] > 0)


def save(state: StateDir, record: dict, memo: dict[str, str], settled: dict[str, str],
         ports: dict[str, list] | None = None, settled_ports: dict[str, list] | None = None) -> None:
    """Keep `settled` (`LiveView.settled` of a check that found everything live) and `settled_ports`
    (`LiveView.host_ports`) when they are not what `memo` and `ports` already hold. A failure to write
    is no failure of the command: the next check decodes."""
    key = _key(state, record)
    if key is None or (settled == memo and (settled_ports or {}) == (ports or {})):
        return
    data = json.dumps({"version": VERSION, "key": key, "namespaces": settled, "ports": settled_ports or {}},
                      sort_keys=True).encode()
    try:
        write_atomic(os.path.join(state.path, NAME), data, 0o600, durable=False)
    except OSError:
        pass
