"""Stand-in services for playgrounds, from the standard library only.

    python3 -m pipenet.services listen PORT [PORT ...]   TCP listeners that greet with a banner
    python3 -m pipenet.services http PORT                an HTTP server (http.server) on PORT
    python3 -m pipenet.services dns [--port 53] [--zone example.com] [--hosts /etc/hosts]
                                                         a DNS server answering A queries from a hosts file

They stand in for SSH, FTP, SMTP, POP, IMAP, Telnet and DNS so that a
playground's ports are open and answer, without installing the real daemons.
Each logs one line per client, naming the address it saw (useful to watch NAT).
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import struct
import sys
import threading

BANNERS = {21: b"220 pipenet FTP stand-in\r\n", 22: b"SSH-2.0-pipenet_stand-in\r\n",
           23: b"pipenet telnet stand-in\r\n", 25: b"220 pipenet SMTP stand-in\r\n",
           110: b"+OK pipenet POP3 stand-in\r\n", 143: b"* OK pipenet IMAP stand-in\r\n"}


def log(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class _TCP(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def listen(ports: list[int]) -> None:
    servers = []
    for port in ports:
        banner = BANNERS.get(port, f"pipenet stand-in on port {port}\r\n".encode())

        class Handler(socketserver.BaseRequestHandler):
            def handle(self, banner=banner, port=port):
                log(f"port {port}: connection from {self.client_address[0].removeprefix('::ffff:')}")
                try:
                    self.request.sendall(banner)
                    self.request.settimeout(5)
                    self.request.recv(1024)
                except OSError:
                    pass

        servers.append(_TCP(("::", port), Handler))
    log(f"listening on {', '.join(map(str, ports))}")
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def http(port: int) -> None:
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6

        def server_bind(self):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            body = f"hello from {socket.gethostname()}; you are {self.client_address[0].removeprefix('::ffff:')}\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, fmt, *args):
            log(f"http: {self.client_address[0].removeprefix('::ffff:')} {fmt % args}")

    log(f"http on port {port}")
    Server(("::", port), Handler).serve_forever()


def read_hosts(path: str) -> dict[str, str]:
    names: dict[str, str] = {}
    try:
        with open(path) as f:
            for line in f:
                w = line.split("#", 1)[0].split()
                if len(w) >= 2 and ":" not in w[0]:
                    for n in w[1:]:
                        names.setdefault(n.lower().rstrip("."), w[0])
    except OSError:
        pass
    return names


def dns(port: int, zone: str, hosts: str) -> None:
    """Answer A queries for names in the hosts file (short names complete with the zone); MX for the zone."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    log(f"dns on port {port} for {zone}")
    while True:
        data, addr = s.recvfrom(512)
        try:
            reply = _answer(data, read_hosts(hosts), zone)
        except (struct.error, IndexError, UnicodeDecodeError):
            continue
        s.sendto(reply, addr)


def _answer(data: bytes, names: dict[str, str], zone: str) -> bytes:
    qid, flags, qd = struct.unpack(">HHH", data[:6])
    pos, labels = 12, []
    while data[pos]:
        n = data[pos]
        labels.append(data[pos + 1:pos + 1 + n].decode())
        pos += n + 1
    question = data[12:pos + 5]
    qtype = struct.unpack(">H", data[pos + 1:pos + 3])[0]
    name = ".".join(labels).lower()
    short = name[: -len(zone) - 1] if name.endswith("." + zone) else name
    ip = names.get(name) or names.get(short)
    answers = b""
    count = 0
    if qtype == 1 and ip:
        answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
        count = 1
    elif qtype == 15 and name == zone:
        target = b"".join(bytes([len(p)]) + p.encode() for p in ("mail." + zone).split(".")) + b"\x00"
        answers = b"\xc0\x0c" + struct.pack(">HHIHH", 15, 1, 60, len(target) + 2, 10) + target
        count = 1
    rcode = 0 if count or name == zone or ip else 3
    header = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, count, 0, 0)
    return header + question + answers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m pipenet.services")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("listen")
    p.add_argument("ports", type=int, nargs="+")
    p = sub.add_parser("http")
    p.add_argument("port", type=int)
    p = sub.add_parser("dns")
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--zone", default="example.com")
    p.add_argument("--hosts", default="/etc/hosts")
    a = ap.parse_args(argv)
    if a.cmd == "listen":
        listen(a.ports)
    elif a.cmd == "http":
        http(a.port)
    else:
        dns(a.port, a.zone.lower(), a.hosts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
