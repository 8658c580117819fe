"""ICMP echo probes, many at once, from one raw socket per node.

The runner opens one raw ICMP socket inside each source node's namespace
(a socket belongs to the namespace it was created in, whichever thread or
process uses it later), so a thousand pings cost no process at all. Each
probe gets an identifier of its own among the probes in flight and a random
nonce as payload; each attempt has its own sequence number. Replies and
errors are dispatched to their probe by `icmp.parse` and the checks below.

Attempts: one at once, then again at 0.25 s, 0.5 s and every 0.5 s after,
until a matching reply arrives or the deadline passes (3 s for `can reach`,
1 s for `cannot reach`). A lost packet is thus retried, and the verdict is
still only "a reply to this probe came back in time".
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import time
from dataclasses import dataclass, field

from pipenet.expect import icmp

SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1


def retry_times(timeout: float) -> list[float]:
    """When, after the start, the attempts of a probe are sent."""
    out, t = [0.0, 0.25], 0.5
    while t < timeout:
        out.append(t)
        t += 0.5
    return [x for x in out if x < timeout]


@dataclass
class Answer:
    """A probe's outcome: answered (in `ms`) or not (and why), after how many packets sent."""

    ok: bool
    ms: float | None = None
    why: str | None = None
    attempts: int = 1


@dataclass
class _Probe:
    ip: str
    nonce: bytes
    sent: dict[int, float] = field(default_factory=dict)  # seq -> monotonic time sent
    done: asyncio.Future | None = None
    persist: bool = True
    error: str | None = None

    def fail(self, why: str) -> None:
        self.error = why
        if not self.persist and not self.done.done():
            self.done.set_result(Answer(False, why=why))


class Pinger:
    """The raw ICMP socket of one node, for one IP version, and the probes waiting on it."""

    def __init__(self, sock: socket.socket, version: int):
        self.sock = sock
        self.version = version
        sock.setblocking(False)
        level, opt = (SOL_RAW, ICMP_FILTER) if version == 4 else (socket.IPPROTO_ICMPV6, ICMP6_FILTER)
        try:
            sock.setsockopt(level, opt, icmp.filter_mask(version))
        except OSError:
            pass  # only an optimisation: every message is checked anyway
        self.probes: dict[int, _Probe] = {}
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(sock.fileno(), self._readable)

    @staticmethod
    def open_here(version: int) -> socket.socket:
        """Called inside the node's namespace."""
        if version == 4:
            return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def _ident(self, hint: int) -> int:
        ident = hint & 0xFFFF or 1
        while ident in self.probes:
            ident = ident % 0xFFFF + 1
        return ident

    async def ping(self, ip: str, timeout: float, hint: int, persist: bool = True) -> Answer:
        """Without `persist` (a `cannot reach` check) the first error about the probe is its answer."""
        ident = self._ident(hint)
        ip = str(ipaddress.ip_address(ip))  # the form the kernel gives the replies' source in
        p = _Probe(ip, os.urandom(16), done=self.loop.create_future(), persist=persist)
        self.probes[ident] = p
        try:
            a = await self._attempts(p, ident, timeout)
        finally:
            del self.probes[ident]
        a.attempts = len(p.sent)
        return a

    async def _attempts(self, p: _Probe, ident: int, timeout: float) -> Answer:
        start = time.monotonic()
        for seq, at in enumerate(retry_times(timeout), 1):
            wait = start + at - time.monotonic()
            if wait > 0 and await _settled(p.done, wait):
                return p.done.result()
            if p.done.done():
                return p.done.result()
            try:
                p.sent[seq] = time.monotonic()
                self.sock.sendto(icmp.echo_request(self.version, ident, seq, p.nonce), (p.ip, 0))
            except OSError as e:  # no route, a link down: the kernel says so at once
                p.fail(e.strerror or str(e))
        left = start + timeout - time.monotonic()
        if left > 0 and await _settled(p.done, left):
            return p.done.result()
        why = f"no echo reply within {timeout:g} s"
        return Answer(False, why=f"{why} ({p.error})" if p.error else why)

    def _readable(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._dispatch(icmp.parse(self.version, data, addr[0]))

    def _dispatch(self, m) -> None:
        if m is None:
            return
        p = self.probes.get(m.ident)
        if p is None or m.seq not in p.sent or p.done.done():
            return
        if isinstance(m, icmp.Reply):
            if m.source == p.ip and m.payload == p.nonce:
                ms = (time.monotonic() - p.sent[m.seq]) * 1000
                p.done.set_result(Answer(True, ms=round(ms, 2)))
        elif m.destination == p.ip:
            p.fail(f"{m.what} (reported by {m.reporter})")


async def _settled(fut: asyncio.Future, seconds: float) -> bool:
    """Wait up to `seconds` for `fut`, without cancelling it; True when it is done."""
    if fut.done():
        return True
    try:
        await asyncio.wait_for(asyncio.shield(fut), seconds)
    except asyncio.TimeoutError:
        return False
    return True
