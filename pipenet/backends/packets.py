"""An interface's packets as pcap, read by pipenet itself: `pipenet capture` where tcpdump cannot run.

Why: tcpdump, started as root, drops to its own user once the interface is
open, and refuses to go on when it cannot. In an unprivileged sandbox (a user
namespace that maps only the user who made it) there is no other user to
become, so it always fails there. This reads the packets from an AF_PACKET
socket and writes them as a classic pcap stream, one packet at a time, so a
file, a pipe to Wireshark, or `tcpdump -r -` (run outside, as the user, for
text) gets what tcpdump would have written. The filter is tcpdump's own,
compiled by `tcpdump -ddd` (which needs no privilege) and attached to the
socket before it is bound, so the same words select the same packets and
nothing else is ever queued.
"""

from __future__ import annotations

import ctypes
import os
import select
import socket
import struct
import subprocess
import time

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SNAPLEN = 262144
#: the link types this reads as Ethernet (ARPHRD_ETHER, and the loopback, whose frames carry a zeroed
#: Ethernet header): every kind of interface pipenet makes is one of them
ETHERNET_HATYPES = (1, 772)
PCAP_HEADER = struct.pack("=IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1)  # LINKTYPE_ETHERNET


def compile_filter(words: list[str]) -> list[tuple[int, int, int, int]]:
    """The classic BPF program of a tcpdump filter (ValueError with tcpdump's words when it is wrong)."""
    r = subprocess.run(["tcpdump", "-ddd", "-y", "EN10MB", "--", *words], capture_output=True, text=True,
                       timeout=30)
    if r.returncode != 0:
        raise ValueError((r.stderr.strip().splitlines() or ["tcpdump could not compile it"])[-1])
    lines = r.stdout.split("\n")
    return [tuple(int(x) for x in line.split()) for line in lines[1:int(lines[0]) + 1]]


def _attach(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    code = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *ins) for ins in program))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HP", len(program), ctypes.addressof(code)))


def capture(ifname: str, fd: int, count: int | None = None, program=None, timeout: float | None = None) -> int:
    """Write pcap of `ifname` (in this process's network namespace) to `fd` until `count` packets, the
    timeout, Ctrl-C or a closed pipe; the number of packets written."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # (protocol 0: nothing queued before bind)
    seen = 0
    try:
        if program:
            _attach(sock, program)
        sock.bind((ifname, ETH_P_ALL))
        if sock.getsockname()[3] not in ETHERNET_HATYPES:
            raise OSError(f"{ifname} is not an Ethernet interface; only those can be captured in this sandbox")
        deadline = None if timeout is None else time.monotonic() + timeout
        os.write(fd, PCAP_HEADER)
        while count is None or seen < count:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                break
            if not select.select([sock], [], [], wait)[0]:
                continue
            data = sock.recv(SNAPLEN)
            now = time.time()
            os.write(fd, struct.pack("=IIII", int(now), int(now % 1 * 1e6), len(data), len(data)) + data)
            seen += 1
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        sock.close()
    return seen
