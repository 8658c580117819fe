"""The resolver agent: a small process inside a node that answers `resolves` expectations.

Name resolution is the one check that needs a process: it must read the
node's own /etc/hosts and /etc/resolv.conf, which exist only in a mount
namespace of its own (see `pipenet.backends.enter`). Reachability probes need
no process at all (they are sockets the runner opens inside the node).

One agent serves every name its node resolves: `resolve NAME...` prints one
line of JSON per name, in the order given, the names being resolved at the
same time. It imports nothing but the standard library. `pipenet test` starts
it with a parent-death signal (`spawn.py`), so it dies with the runner.
"""

from __future__ import annotations

import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor


def resolve(name: str) -> dict:
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        return {"name": name, "ok": False, "why": e.strerror or str(e), "addresses": []}
    return {"name": name, "ok": True, "addresses": sorted({i[4][0] for i in infos})}


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "resolve":
        sys.stdout.write(json.dumps({"ok": False, "why": f"unknown request {argv[:1]}"}) + "\n")
        return 2
    names = argv[1:]
    with ThreadPoolExecutor(max_workers=max(1, min(16, len(names)))) as pool:
        for answer in pool.map(resolve, names):
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
