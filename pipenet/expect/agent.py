"""The probe agent: a tiny process that runs inside a node and does one network check.

It is started by `pipenet test` already inside the node (network namespace,
hostname, /etc files), imports nothing but the standard library, and speaks
one line of JSON on stdout. Commands:

  connect tcp IP PORT TIMEOUT     connect; print the result; keep the
                                  connection open until stdin closes
  connect udp IP PORT TIMEOUT     send a datagram, wait for any reply
  ping IP TIMEOUT                 one ICMP echo (raw socket)
  resolve NAME                    getaddrinfo through the node's hosts and resolv.conf
  listen tcp|udp PORT             a temporary listener (UDP: an echo); prints
                                  {"ready": true}, runs until stdin closes
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import threading
import time


def say(**kw) -> None:
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def wait_stdin() -> None:
    try:
        sys.stdin.read()
    except Exception:
        pass


def family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def connect_tcp(ip: str, port: int, timeout: float) -> None:
    s = socket.socket(family(ip), socket.SOCK_STREAM)
    s.settimeout(timeout)
    t = time.monotonic()
    try:
        s.connect((ip, port))
    except socket.timeout:
        say(ok=False, why=f"timed out after {timeout:g} s")
        return
    except OSError as e:
        say(ok=False, why=e.strerror or str(e))
        return
    local = s.getsockname()
    say(ok=True, ms=round((time.monotonic() - t) * 1000, 1), local=local[0], local_port=local[1])
    wait_stdin()
    s.close()


def connect_udp(ip: str, port: int, timeout: float) -> None:
    s = socket.socket(family(ip), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    payload = b"pipenet-probe"
    if port == 53:  # a DNS query for the root, so a real DNS server answers too
        payload = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x00" + struct.pack(">HH", 2, 1)
    t = time.monotonic()
    try:
        s.connect((ip, port))
        s.send(payload)
        s.recv(4096)
    except socket.timeout:
        say(ok=False, why=f"no answer within {timeout:g} s")
        return
    except OSError as e:
        say(ok=False, why=e.strerror or str(e))
        return
    say(ok=True, ms=round((time.monotonic() - t) * 1000, 1))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(ip: str, timeout: float) -> None:
    v6 = ":" in ip
    try:
        if v6:
            s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    except OSError as e:
        say(ok=False, why=f"cannot open an ICMP socket: {e.strerror}")
        return
    ident = os.getpid() & 0xFFFF
    typ = 128 if v6 else 8
    header = struct.pack("!BBHHH", typ, 0, 0, ident, 1)
    body = b"pipenet" * 4
    packet = struct.pack("!BBHHH", typ, 0, 0 if v6 else checksum(header + body), ident, 1) + body
    t = time.monotonic()
    try:
        s.sendto(packet, (ip, 0))
    except OSError as e:
        say(ok=False, why=e.strerror or str(e))
        return
    deadline = t + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            say(ok=False, why=f"no echo reply within {timeout:g} s")
            return
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        data, addr = s.recvfrom(4096)
        icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
        if len(icmp) >= 8:
            rtype, _, _, rid, _ = struct.unpack("!BBHHH", icmp[:8])
            if rtype == (129 if v6 else 0) and rid == ident:
                say(ok=True, ms=round((time.monotonic() - t) * 1000, 1))
                return
            if rtype in (3, 1) and not v6:
                say(ok=False, why="destination unreachable")
                return


def resolve(name: str) -> None:
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        say(ok=False, why=e.strerror or str(e), addresses=[])
        return
    say(ok=True, addresses=sorted({i[4][0] for i in infos}))


def listen(proto: str, port: int) -> None:
    fam = socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    try:
        s = socket.socket(fam, kind)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", port))
    except OSError as e:
        say(ready=False, why=e.strerror)
        return
    if proto == "tcp":
        s.listen(64)

        def serve():
            while True:
                try:
                    c, _ = s.accept()
                except OSError:
                    return
                threading.Thread(target=lambda c=c: (c.recv(1), c.close()), daemon=True).start()
    else:
        def serve():
            while True:
                try:
                    data, addr = s.recvfrom(4096)
                    s.sendto(data, addr)
                except OSError:
                    return

    threading.Thread(target=serve, daemon=True).start()
    say(ready=True)
    wait_stdin()


def main(argv: list[str]) -> int:
    cmd = argv[0]
    if cmd == "connect":
        proto, ip, port, timeout = argv[1], argv[2], int(argv[3]), float(argv[4])
        (connect_tcp if proto == "tcp" else connect_udp)(ip, port, timeout)
    elif cmd == "ping":
        ping(argv[1], float(argv[2]))
    elif cmd == "resolve":
        resolve(argv[1])
    elif cmd == "listen":
        listen(argv[1], int(argv[2]))
    else:
        say(ok=False, why=f"unknown probe {cmd}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
