"""A node that answers pings late: the kernel's own echo is turned off and this answers after DELAY seconds.

    python3 late_echo.py DELAY

Used to keep a probe waiting for its reply while ICMP errors about other
probes arrive in the same node.
"""

import socket
import struct
import sys
import threading


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main() -> None:
    delay = float(sys.argv[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    print("ready", flush=True)
    while True:
        data, (src, _) = s.recvfrom(65536)
        icmp = data[(data[0] & 0x0F) * 4:]
        if len(icmp) < 8 or icmp[0] != 8:
            continue
        body = b"\x00\x00\x00\x00" + icmp[4:]
        reply = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
        threading.Timer(delay, s.sendto, (reply, (src, 0))).start()


if __name__ == "__main__":
    main()
