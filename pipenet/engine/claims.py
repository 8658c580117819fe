"""What topologies claim on the host, so two of them never take the same bridge, subnet or port.

A topology's claim is its bridges (those it creates), its bridge subnets,
its published host ports and the prefix of its firewall chains (derived from
its whole name, so two topologies never share one; checked all the same). A finished `up` keeps them in its record; an `up`
under way writes them to `claim.json` while it holds the state root's lock,
before it changes anything, so a second `up` started at the same moment sees
the first one's claim and fails before any change.
"""

from __future__ import annotations

import json
import os

from pipenet.engine.state import StateDir, all_topologies, state_root
from pipenet.errors import Conflict, PipenetError
from pipenet.fsutil import locked_dir, write_atomic


def root_lock():
    """The state root's lock: held only while planning and checking, never while applying."""
    return locked_dir(state_root())


def claim_of(p) -> dict:
    from pipenet.plan.firewall import chain_base

    return {"bridges": sorted(b.name for b in p.topo.bridges if not b.external),
            "subnets": [str(s) for b in p.topo.bridges for s in (b.subnet, b.subnet6) if s is not None],
            "published": [{"host_port": x.host_port, "proto": x.proto} for x in p.published],
            "chains": [chain_base(p.topo.name)]}


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
        try:
            rec = StateDir(name).load() or {}
        except PipenetError:
            rec = {}  # reported when that topology is used; its claim file may still say something
        # published ports of records are checked (with the node named) by session.check_ports
        info = {"bridges": rec.get("bridges", []), "subnets": rec.get("subnets", []), "published": [],
                "chains": [rec["chains"]] if isinstance(rec.get("chains"), str) else []}
        try:
            with open(_claim_path(name)) as f:
                c = json.load(f)
            for k in info:
                info[k] = list(info[k]) + list(c.get(k, []) if isinstance(c, dict) else [])
        except (OSError, ValueError, TypeError):
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
        for c in sorted(set(mine["chains"]) & set(theirs["chains"])):
            problems.append(f"firewall chains {c}-* belong to topology {name}")
        ports = {(x["host_port"], x["proto"]) for x in theirs["published"] if isinstance(x, dict)}
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
