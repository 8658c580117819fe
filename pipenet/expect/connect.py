"""TCP and UDP probes, run by the runner's event loop on sockets opened inside the source node.

Each probe has its own socket, so its answer can only be its own: a TCP
probe's verdict is its own handshake (SYNs are retransmitted by the kernel;
a refusal or an ICMP error is retried every 0.25 s until the deadline, in
case the server was still starting); a UDP probe sends a datagram on its own
connected socket at the same times as a ping (`ping.retry_times`) and counts
any datagram that comes back on it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time

from pipenet.expect.ping import Answer, retry_times

RETRY_REFUSED = 0.25


def _address(ip: str, port: int) -> tuple:
    return (ip, port, 0, 0) if ":" in ip else (ip, port)


def family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


async def tcp(open_socket, ip: str, port: int, timeout: float, persist: bool = True
              ) -> tuple[Answer, socket.socket | None]:
    """Connect; on success the caller gets the open socket (to look at the server's side) and closes it.
    Without `persist` (a `cannot reach` check) the first refusal is the answer."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    why = None
    while True:
        left = start + timeout - time.monotonic()
        if left <= 0:
            return Answer(False, why=why or f"timed out after {timeout:g} s"), None
        s = open_socket(family(ip), socket.SOCK_STREAM)
        s.setblocking(False)
        t = time.monotonic()
        try:
            await asyncio.wait_for(loop.sock_connect(s, _address(ip, port)), left)
        except asyncio.TimeoutError:
            s.close()
            return Answer(False, why=f"timed out after {timeout:g} s" + (f" ({why})" if why else "")), None
        except OSError as e:
            s.close()
            why = e.strerror or str(e)
            if not persist:
                return Answer(False, why=why), None
            await asyncio.sleep(min(RETRY_REFUSED, max(0.0, start + timeout - time.monotonic())))
            continue
        return Answer(True, ms=round((time.monotonic() - t) * 1000, 2)), s


def udp_payload(port: int) -> bytes:
    if port == 53:  # a DNS query for the root, so a real DNS server answers too
        return struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x00" + struct.pack(">HH", 2, 1)
    return b"pipenet-probe"


async def udp(open_socket, ip: str, port: int, timeout: float, persist: bool = True) -> Answer:
    loop = asyncio.get_running_loop()
    s = open_socket(family(ip), socket.SOCK_DGRAM)
    s.setblocking(False)
    payload = udp_payload(port)
    start = time.monotonic()
    why = None
    sends = 0
    try:
        try:
            s.connect(_address(ip, port))
        except OSError as e:
            return Answer(False, why=e.strerror or str(e))
        times = retry_times(timeout) + [timeout]
        for at, until in zip(times, times[1:]):
            wait = start + at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            sent = time.monotonic()
            sends += 1
            try:
                s.send(payload)
            except OSError as e:
                why = e.strerror or str(e)
                continue
            while (left := start + until - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(loop.sock_recv(s, 4096), left)
                except asyncio.TimeoutError:
                    break
                except ConnectionRefusedError:
                    why = "port unreachable (connection refused)"
                    if not persist:
                        return Answer(False, why=why, attempts=sends)
                    break
                except OSError as e:
                    why = e.strerror or str(e)
                    if not persist:
                        return Answer(False, why=why, attempts=sends)
                    break
                return Answer(True, ms=round((time.monotonic() - sent) * 1000, 2), attempts=sends)
        tail = f"no answer within {timeout:g} s"
        return Answer(False, why=f"{tail} ({why})" if why else tail, attempts=sends)
    finally:
        s.close()
