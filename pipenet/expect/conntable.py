"""Reading a namespace's /proc/net/tcp and udp tables: who listens on a port, whom a server sees.

`as ADDR` is checked from the server's side: while the probe holds its
connection open, the server's established connections on the probed port
name the address it really saw, after any NAT.
"""

from __future__ import annotations

from netaddr import IPAddress

LISTEN = {"tcp": "0A", "udp": "07"}
ESTABLISHED = "01"


def entries(text: str, want_state: str) -> list[tuple[str, int, str, int]]:
    """(local ip, local port, remote ip, remote port) of the table's lines in a state."""
    out = []
    for line in text.splitlines()[1:]:
        w = line.split()
        if len(w) < 4 or w[3] != want_state or ":" not in w[1]:
            continue
        (lip, lport), (rip, rport) = (x.rsplit(":", 1) for x in (w[1], w[2]))
        out.append((hexip(lip), int(lport, 16), hexip(rip), int(rport, 16)))
    return out


def hexip(h: str) -> str:
    if len(h) == 8:
        return ".".join(str(b) for b in bytes.fromhex(h)[::-1])
    words = [bytes.fromhex(h[i:i + 8])[::-1] for i in range(0, 32, 8)]
    raw = b"".join(words)
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return ".".join(str(b) for b in raw[12:])
    return str(IPAddress(int.from_bytes(raw, "big"), 6))


def listening(text: str, port: int, proto: str) -> bool:
    return any(lp == port for _, lp, _, _ in entries(text, LISTEN[proto]))


def seen_on(text: str, port: int) -> set[str]:
    return {rip for _, lp, rip, _ in entries(text, ESTABLISHED) if lp == port}
