"""Host ports: which are taken, and which pipenet chooses for `publish-all` and `publish PORT`.

A port is taken when a socket on the host listens on it (TCP) or is bound to
it (UDP), as /proc/net shows for the namespace pipenet runs in, or when
another topology publishes it. Chosen ports come from the host's ephemeral
range (/proc/sys/net/ipv4/ip_local_port_range), lowest free first; the choice
is recorded and reused on every later `up`.
"""

from __future__ import annotations

from pipenet.engine.state import StateDir, all_topologies


def listening() -> set[tuple[int, str]]:
    out: set[tuple[int, str]] = set()
    for proto, files in (("tcp", ("tcp", "tcp6")), ("udp", ("udp", "udp6"))):
        for name in files:
            try:
                with open(f"/proc/net/{name}") as f:
                    lines = f.read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                w = line.split()
                if len(w) < 4:
                    continue
                port = int(w[1].rsplit(":", 1)[1], 16)
                if proto == "udp" or w[3] == "0A":
                    out.add((port, proto))
    return out


def published_elsewhere(exclude: str) -> dict[tuple[int, str], str]:
    out = {}
    for name in all_topologies():
        if name == exclude:
            continue
        for entry in (StateDir(name).load() or {}).get("published", []):
            out[(entry["host_port"], entry["proto"])] = name
    return out


def ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = f.read().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def choose(needed: list[str], recorded: dict[str, int], explicit: set[tuple[int, str]],
           taken: set[tuple[int, str]]) -> dict[str, int]:
    lo, hi = ephemeral_range()
    chosen: dict[str, int] = {}
    used = set(explicit) | set(taken)
    for key in needed:
        if key in recorded:
            chosen[key] = recorded[key]
            used.add((recorded[key], key.rsplit("/", 1)[1]))
    nxt = lo
    for key in needed:
        if key in chosen:
            continue
        proto = key.rsplit("/", 1)[1]
        while nxt <= hi and (nxt, proto) in used:
            nxt += 1
        if nxt > hi:
            raise OSError(28, "no free port left in the ephemeral range for publish-all")
        chosen[key] = nxt
        used.add((nxt, proto))
        nxt += 1
    return chosen
