"""Temporary listeners: a socket in the target node while its port is probed and nothing else listens.

The socket is opened inside the target's namespace by the runner's own
process and served by its event loop (TCP: accept, and close each
connection as soon as the prober closes its end, so the closing handshake is
over before the probe's neighbour entries are given back; UDP: echo every
datagram). No process is started for it,
so it cannot outlive `pipenet test`: when the runner ends, however it ends,
the kernel closes its sockets.
"""

from __future__ import annotations

import asyncio
import socket


class Listener:
    def __init__(self, sock: socket.socket, proto: str):
        self.sock = sock
        self.proto = proto
        self.accepted: set[socket.socket] = set()
        sock.setblocking(False)
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(sock.fileno(), self._accept if proto == "tcp" else self._echo)

    @staticmethod
    def open_here(proto: str, port: int) -> socket.socket:
        """Called inside the target's namespace: a dual-stack socket bound to every address."""
        fam = socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        s = socket.socket(fam, kind)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if fam == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", port))
            if proto == "tcp":
                s.listen(128)
        except OSError:
            s.close()
            raise
        return s

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setblocking(False)
            self.accepted.add(c)
            self.loop.add_reader(c.fileno(), self._drain, c)

    def _drain(self, c: socket.socket) -> None:
        try:
            if c.recv(4096):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self._drop(c)

    def _drop(self, c: socket.socket) -> None:
        self.loop.remove_reader(c.fileno())
        self.accepted.discard(c)
        c.close()

    def _echo(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
                self.sock.sendto(data, addr)
            except OSError:
                return

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        for c in list(self.accepted):
            self._drop(c)
        self.sock.close()
