"""Temporary listeners held on a machine while another machine probes its nodes' ports (docs/multi-host.md).

`expect c can reach b:80/tcp` is checked on c's machine, which opens a
temporary listener only in its own namespaces; when b is on another machine,
the coordinator asks b's machine (`pipenet slice`, action `listen`) to hold
one in b while the probes run: opened only where nothing listens already (as
`pipenet test` does on one machine), served by this process's event loop
(TCP: accepted and closed; UDP: echoed), and closed when the coordinator
closes the conversation, however it ends (the kernel closes the sockets of
a process that dies).
"""

from __future__ import annotations

import asyncio
import sys

from pipenet.engine.state import StateDir
from pipenet.expect import conntable
from pipenet.expect.listeners import Listener
from pipenet.expect.places import Places


def hold(name: str, ports: list, k, say) -> None:
    """Listeners in the nodes of `name` here, for `ports` ([node, port, proto] each) not yet listened on;
    `say` is told how many were opened; they close when stdin does."""
    ns = (StateDir(name).load() or {}).get("ns") or {}
    places = Places(k)

    async def serve() -> None:
        held = []
        try:
            for node, port, proto in ports:
                ref = ns.get(str(node))
                if ref is None or conntable.listening(places.read_net(ref, proto), int(port), proto):
                    continue
                held.append(Listener(places.inside(ref, lambda p=int(port), q=str(proto): Listener.open_here(q, p)),
                                     str(proto)))
            say({"listening": len(held)})
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # (until the coordinator is done)
        finally:
            for listener in held:
                listener.close()

    try:
        asyncio.run(serve())
    finally:
        places.close()
