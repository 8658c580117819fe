"""The commands containerlab labs configure their linux nodes with, as pipenet statements and back.

containerlab links carry no addresses: a lab of linux nodes addresses and
routes them with `exec` (`ip address add 10.0.0.1/30 dev eth1`, `ip route
add ...`, `sysctl -w net.ipv4.ip_forward=1`). pipenet's `run` starts a
process it keeps running, so such a one-shot command would be a dead process
after every `up`. The few forms below are therefore read as what they mean
(an address, a route, forwarding, NAT, a link brought up, which pipenet does
anyway) and written back the same way by `export`; any other command stays
a `run`.
"""

from __future__ import annotations

from netaddr import AddrFormatError, IPAddress, IPNetwork

from pipenet.lang.values import IFNAME_RE

_ADDRESS = ("address", "addr", "a")
_ROUTE = ("route", "ro", "r")


def read(argv: list[str]) -> tuple | None:
    """What one exec command means, or None when it is none of the forms pipenet carries:
    ("address", IF, ADDR/PREFIX), ("up", IF), ("route", DEST, GATEWAY|None, IF|None), ("forwarding",),
    ("masquerade", IF)."""
    if argv[:1] == ["ip"]:
        words = [w for w in argv[1:] if w not in ("-4", "-6")]
        if len(words) == 5 and words[0] in _ADDRESS and words[1] == "add" and words[3] == "dev":
            return ("address", words[4], words[2]) if _prefixed(words[2]) else None
        if words[:2] == ["link", "set"] and words[-1:] == ["up"]:
            rest = words[2:-1]
            rest = rest[1:] if rest[:1] == ["dev"] else rest
            return ("up", rest[0]) if len(rest) == 1 else None
        if len(words) >= 5 and words[0] in _ROUTE and words[1] == "add":
            return _route(words[2], words[3:])
        return None
    if argv in (["sysctl", "-w", "net.ipv4.ip_forward=1"], ["sysctl", "net.ipv4.ip_forward=1"]):
        return ("forwarding",)
    if (len(argv) == 9 and argv[:5] == ["iptables", "-t", "nat", "-A", "POSTROUTING"] and argv[5] == "-o"
            and argv[7:] == ["-j", "MASQUERADE"] and IFNAME_RE.match(argv[6])):
        return ("masquerade", argv[6])
    return None


def _route(dest: str, opts: list[str]) -> tuple | None:
    pairs = dict(zip(opts[::2], opts[1::2]))
    if len(opts) % 2 or set(pairs) - {"via", "dev"}:
        return None
    try:
        if dest != "default":
            IPNetwork(dest)
        if "via" in pairs:
            IPAddress(pairs["via"])
    except (AddrFormatError, ValueError):
        return None
    return ("route", dest, pairs.get("via"), pairs.get("dev"))


def _prefixed(text: str) -> bool:
    try:
        return "/" in text and IPNetwork(text) is not None
    except (AddrFormatError, ValueError):
        return False


def address(ifname: str, cidr: str) -> str:
    return f"ip address add {cidr} dev {ifname}"


def route(dest: str, via: str | None, dev: str | None) -> str:
    return f"ip route add {dest}" + (f" via {via}" if via else "") + (f" dev {dev}" if dev else "")


FORWARDING = "sysctl -w net.ipv4.ip_forward=1"


def masquerade(ifname: str) -> str:
    return f"iptables -t nat -A POSTROUTING -o {ifname} -j MASQUERADE"
