"""TCP and UDP probes, run by the runner's event loop on sockets opened inside the source node.

Each probe has its own sockets, so its answer can only be its own: a TCP
probe's verdict is one of its own handshakes, a UDP probe's any datagram that
comes back on its own connected socket. Both try again at the same times as a
ping (`ping.retry_times`) until the deadline.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time

from pipenet.expect.ping import Answer, retry_times


def _address(ip: str, port: int) -> tuple:
    return (ip, port, 0, 0) if ":" in ip else (ip, port)


def family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


async def tcp(open_socket, ip: str, port: int, timeout: float, persist: bool = True
              ) -> tuple[Answer, socket.socket | None]:
    """Connect; on success the caller gets the open socket (to look at the server's side) and closes it.

    A new connection attempt starts at each of `retry_times` while the earlier ones are still waiting
    (the kernel alone would resend a lost SYN only after 1 s, then 2 s more); the first to connect wins.
    A refusal is an answer for a `cannot reach` check (`persist` false); otherwise the attempts go on,
    in case the server was still starting."""
    loop = asyncio.get_running_loop()
    start = time.monotonic()
    times = retry_times(timeout)
    pending: dict[asyncio.Task, tuple[socket.socket, float]] = {}
    why = None
    attempts = 0
    try:
        while True:
            now = time.monotonic()
            if attempts < len(times) and now >= start + times[attempts]:
                s = open_socket(family(ip), socket.SOCK_STREAM)
                s.setblocking(False)
                pending[loop.create_task(loop.sock_connect(s, _address(ip, port)))] = (s, now)
                attempts += 1
                continue
            wake = start + (times[attempts] if attempts < len(times) else timeout)
            if wake <= now:
                break
            if not pending:
                await asyncio.sleep(wake - now)
                continue
            done, _ = await asyncio.wait(pending, timeout=wake - now, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                s, sent = pending.pop(task)
                error = task.exception()
                if error is None:
                    return Answer(True, ms=round((time.monotonic() - sent) * 1000, 2), attempts=attempts), s
                s.close()
                why = getattr(error, "strerror", None) or str(error)
                if not persist:
                    return Answer(False, why=why, attempts=attempts), None
        why = f"no connection within {timeout:g} s ({why})" if why else f"timed out after {timeout:g} s"
        return Answer(False, why=why, attempts=attempts), None
    finally:
        for task, (s, _) in pending.items():
            task.cancel()
            s.close()


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
