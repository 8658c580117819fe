"""What topologies claim on the host, so two of them never take the same bridge, subnet or port.

A topology's claim is its bridges (those it creates), its bridge subnets and
its published host ports. A finished `up` keeps them in its record; an `up`
under way writes them to `claim.json` while it holds the state root's lock,
before it changes anything, so a second `up` started at the same moment sees
the first one's claim and fails before any change.
"""

from __future__ import annotations

import json
import os

from pipenet.engine.state import StateDir, all_topologies, state_root
from pipenet.errors import Conflict
from pipenet.fsutil import locked_dir, write_atomic


def root_lock():
    """The state root's lock: held only while planning and checking, never while applying."""
    return locked_dir(state_root())


def claim_of(p) -> dict:
    return {"bridges": sorted(b.name for b in p.topo.bridges if not b.external),
            "subnets": [str(b.subnet) for b in p.topo.bridges if b.subnet is not None],
            "published": [{"host_port": x.host_port, "proto": x.proto} for x in p.published]}


def _claim_path(name: str) -> str:
    return os.path.join(StateDir(name).path, "claim.json")


def others(exclude: str) -> dict[str, dict]:
    out = {}
    root = state_root()
    try:
        names = set(all_topologies()) | {n for n in os.listdir(root) if not n.startswith(".")
                                         and os.path.isdir(os.path.join(root, n))
                                         and os.path.exists(_claim_path(n))}
    except FileNotFoundError:
        return out
    for name in sorted(names):
        if name == exclude:
            continue
        rec = StateDir(name).load() or {}
        # published ports of records are checked (with the node named) by session.check_ports
        info = {"bridges": rec.get("bridges", []), "subnets": rec.get("subnets", []), "published": []}
        try:
            with open(_claim_path(name)) as f:
                c = json.load(f)
            for k in info:
                info[k] = list(info[k]) + list(c.get(k, []))
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        out[name] = info
    return out


def check(p) -> None:
    from netaddr import IPNetwork

    mine = claim_of(p)
    problems = []
    for name, theirs in others(p.topo.name).items():
        for b in sorted(set(mine["bridges"]) & set(theirs["bridges"])):
            problems.append(f"bridge {b} belongs to topology {name}")
        for a in mine["subnets"]:
            for b in theirs["subnets"]:
                na, nb = IPNetwork(a), IPNetwork(b)
                if na.version == nb.version and na.first <= nb.last and nb.first <= na.last:
                    problems.append(f"subnet {a} overlaps {b} of topology {name}")
        ports = {(x["host_port"], x["proto"]) for x in theirs["published"]}
        for x in mine["published"]:
            if (x["host_port"], x["proto"]) in ports:
                problems.append(f"host port {x['host_port']}/{x['proto']} is already published by topology {name}")
    if problems:
        raise Conflict(problems)


def write(p) -> None:
    p.state.ensure()
    write_atomic(_claim_path(p.topo.name), json.dumps(claim_of(p)).encode(), 0o600)


def drop(name: str) -> None:
    try:
        os.unlink(_claim_path(name))
    except FileNotFoundError:
        pass
