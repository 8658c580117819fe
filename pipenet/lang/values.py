"""Typed values from the text of one token (after interpolation).

The grammar gives every value as one WORD; these functions decide what it
is. Each returns the value or raises `BadValue` with a message and a hint a
person can act on ("expected an address like 10.0.0.1/24"), which the
expander turns into a located diagnostic.
"""

from __future__ import annotations

import math
import re
import shlex
from functools import lru_cache

from netaddr import AddrFormatError, IPAddress, IPNetwork

from pipenet.ir import IfAddr, Port, Publish


class BadValue(ValueError):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
IFNAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}\Z")
_V4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\Z")
_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\Z")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?\Z")
_SYSCTL = re.compile(r"net(?:[./][A-Za-z0-9_-]+)+\Z")
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)([A-Za-z%]*)\Z")

PROTOCOLS = ("tcp", "udp", "sctp")
SWITCHES = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}

ADDRESS_HINT = "an address looks like 10.0.0.1 or 10.0.0.1/24 (IPv6: fd00::1/64)"


MAX_NAME = 64
#: The longest integer any statement takes (a 32-bit metric has 10 digits); a longer run of digits is refused
#: before it is converted, so no literal can reach Python's limit on integer conversion.
MAX_DIGITS = 20
#: The longest a delay or jitter may be (netem keeps it in a 32-bit count of clock ticks).
MAX_DURATION_MS = 60_000.0
#: The fastest a rate may be (tbf keeps it in a 32-bit count of bytes per second).
MAX_RATE_BPS = 32 * 10**9


def shorten(text: str, keep: int = 40) -> str:
    """`text` for a message: a long value is cut in the middle, so a message stays one line."""
    if len(text) <= keep:
        return text
    return f"{text[:keep - 12]}...{text[-8:]}"


def is_number(text: str) -> bool:
    """ASCII digits only (str.isdigit also takes `²`, which int() refuses)."""
    return text.isascii() and text.isdigit()


def to_int(text: str, what: str = "a number", limit: int = MAX_DIGITS) -> int:
    """ASCII digits to an int, refusing more than `limit` digits (leading zeros aside) before converting."""
    if len(text.lstrip("0")) > limit:
        raise BadValue(f"{what} `{shorten(text)}` has {len(text.lstrip('0')):,} digits; pipenet takes at most {limit}",
                       "a typo? no value here needs so many digits")
    return int(text)


def name(text: str, what: str = "name") -> str:
    if len(text) > MAX_NAME:
        raise BadValue(f"this {what} is {len(text)} characters long; pipenet allows {MAX_NAME}",
                       f"shorten it, e.g. `{text[:20]}`")
    if not NAME_RE.match(text):
        raise BadValue(f"`{shorten(text)}` is not a valid {what}",
                       "names start with a letter or _, then letters, digits, _, - or .")
    return text


def ifname(text: str) -> str:
    if len(text.encode()) > 15:
        raise BadValue(f"interface name `{shorten(text)}` is {len(text.encode())} bytes long; the kernel allows 15",
                       f"shorten it, e.g. `{text[:15]}`")
    if not IFNAME_RE.match(text) or text in (".", ".."):
        raise BadValue(f"`{shorten(text)}` is not a valid interface name",
                       "interface names are 1 to 15 of A-Z a-z 0-9 _ . -")
    return text


def node_interface(text: str) -> tuple[str, str]:
    """`NODE:IFNAME`."""
    node, sep, ifn = text.partition(":")
    if not sep:
        raise BadValue(f"`{shorten(text)}` is not an interface reference", "write NODE:IFNAME, e.g. backbone:eth0")
    return name(node, "node name"), ifname(ifn)


# The parsers below are pure functions of their text; a generated file repeats the
# same gateways, ports and prefixes thousands of times, so they are cached.
_cache = lru_cache(maxsize=65536)


@_cache
def ip(text: str) -> IPAddress:
    m = _V4.match(text)
    if m:
        parts = [int(g) for g in m.groups()]
        if any(p > 255 for p in parts):
            raise BadValue(f"`{shorten(text)}` is not an IPv4 address (each part is 0 to 255)", ADDRESS_HINT)
        if any(len(g) > 1 and g.startswith("0") for g in m.groups()):
            raise BadValue(f"`{shorten(text)}` has a part with a leading zero", "write 10.0.0.1, not 10.0.0.01")
        return IPAddress((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3], 4)
    if ":" in text:
        try:
            return IPAddress(text, 6)
        except (AddrFormatError, ValueError):
            pass
    raise BadValue(f"expected an address, got `{shorten(text)}`", ADDRESS_HINT)


@_cache
def if_address(text: str) -> IfAddr:
    """An interface address: an IP with or without `/prefix`."""
    addr, sep, plen = text.partition("/")
    a = ip(addr)
    if not sep:
        return IfAddr(a, None)
    maxlen = 32 if a.version == 4 else 128
    if not is_number(plen) or len(plen) > 3 or int(plen) > maxlen:
        raise BadValue(f"`/{shorten(plen)}` is not a prefix length for {addr}",
                       f"a prefix is 0 to {maxlen}, e.g. {addr}/24")
    return IfAddr(a, int(plen))


@_cache
def network(text: str, host_ok: bool = True) -> IPNetwork:
    """A network like 10.0.0.0/8; a bare address is a host network (/32) when `host_ok`."""
    addr = if_address(text)
    if addr.prefix is None:
        if not host_ok:
            raise BadValue(f"`{shorten(text)}` needs a prefix length", f"e.g. {text}/24")
        return addr.network
    net = addr.network
    if net.ip != addr.ip:
        raise BadValue(f"`{shorten(text)}` has host bits set", f"did you mean {net}?")
    return net


@_cache
def mac(text: str) -> str:
    if not _MAC.match(text):
        raise BadValue(f"expected a MAC address, got `{shorten(text)}`", "a MAC looks like 02:42:ac:11:00:02")
    return text.lower()


def integer(text: str, what: str, low: int, high: int) -> int:
    """`text` as a whole number from `low` to `high`; `what` names it with its article ("a port")."""
    if not is_number(text):
        raise BadValue(f"expected {what}, got `{shorten(text)}`", f"a whole number from {low} to {high}")
    named = what.split(" ", 1)[1] if what.startswith(("a ", "an ")) else what  # ("port 70000", not "a port 70000")
    if len(text.lstrip("0")) > len(str(high)):  # out of range, known without converting
        raise BadValue(f"{named} {shorten(text)} is out of range", f"a whole number from {low} to {high}")
    v = int(text)
    if not low <= v <= high:
        raise BadValue(f"{named} {v} is out of range", f"a whole number from {low} to {high}")
    return v


def mtu(text: str) -> int:
    return integer(text, "an MTU", 68, 65535)


def _port_number(text: str) -> int:
    return integer(text, "a port", 1, 65535)


def _proto(text: str) -> str:
    p = text.lower()
    if p not in PROTOCOLS:
        raise BadValue(f"unknown protocol `{shorten(text)}`", "a protocol is tcp or udp")
    return p


@_cache
def port(text: str) -> Port:
    """`80`, `80/tcp`, `53/udp`; the protocol defaults to tcp."""
    num, sep, proto = text.partition("/")
    return Port(_port_number(num), _proto(proto) if sep else "tcp")


@_cache
def publish(text: str) -> Publish:
    """`[HOSTIP:]HOSTPORT:PORT[/PROTO]`, also `PORT[/PROTO]` and `HOSTIP::PORT` (any free host port)."""
    body, sep, proto = text.partition("/")
    proto = _proto(proto) if sep else "tcp"
    host_ip = None
    if body.startswith("["):  # [fd00::1]:8080:80
        end = body.find("]")
        if end < 0:
            raise BadValue(f"`{shorten(text)}` has an unclosed [", "e.g. [::1]:8080:80")
        host_ip = ip(body[1:end])
        body = body[end + 1:].lstrip(":")
        parts = body.split(":")
    else:
        parts = body.split(":")
        if len(parts) == 3:
            host_ip = ip(parts[0])
            parts = parts[1:]
    if len(parts) == 1:
        return Publish(host_ip, None, _port_number(parts[0]), proto)
    if len(parts) == 2:
        hp = None if parts[0] == "" else _port_number(parts[0])
        return Publish(host_ip, hp, _port_number(parts[1]), proto)
    raise BadValue(f"expected a published port, got `{shorten(text)}`", "write [HOSTIP:]HOSTPORT:PORT[/PROTO], e.g. 8080:80/tcp")


def switch(text: str) -> bool:
    v = SWITCHES.get(text.lower())
    if v is None:
        raise BadValue(f"expected on or off, got `{shorten(text)}`", "write on or off (yes/no and true/false also work)")
    return v


_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
_RATE_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9,
               "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9}


def _quantity(m: re.Match) -> float:
    """The number of a NUMBER+UNIT match; a huge one (thousands of digits) becomes infinity, not an error."""
    number = m.group(1)
    if len(number.split(".")[0].lstrip("0")) > MAX_DIGITS:
        return math.inf
    return float(number)


def duration_ms(text: str) -> float:
    m = _NUMBER_UNIT.match(text)
    if not m or m.group(2) not in _TIME_UNITS:
        raise BadValue(f"expected a duration, got `{shorten(text)}`", "a duration looks like 50ms or 1s")
    ms = _quantity(m) * _TIME_UNITS[m.group(2)]
    if ms > MAX_DURATION_MS:
        raise BadValue(f"the duration {shorten(text)} is too long", "at most 60s (netem's limit is about 4 minutes)")
    return ms


def wait_seconds(text: str, most: float) -> float:
    """A time to wait (`within 30s`, `within 2m`): more than nothing, at most `most` seconds."""
    m = _NUMBER_UNIT.match(text)
    if not m or m.group(2) not in _TIME_UNITS:
        raise BadValue(f"expected a duration, got `{shorten(text)}`", "e.g. 30s or 2m")
    seconds = _quantity(m) * _TIME_UNITS[m.group(2)] / 1000.0
    if not 0 < seconds <= most:
        raise BadValue(f"a wait of {shorten(text)} is out of range", f"more than 0s, at most {most:g}s")
    return seconds


def rate_bps(text: str) -> int:
    m = _NUMBER_UNIT.match(text)
    if not m or m.group(2).lower() not in _RATE_UNITS:
        raise BadValue(f"expected a rate, got `{shorten(text)}`", "a rate looks like 10mbit or 512kbit")
    bps = _quantity(m) * _RATE_UNITS[m.group(2).lower()]
    if bps > MAX_RATE_BPS:
        raise BadValue(f"the rate {shorten(text)} is too fast", "at most 32gbit (tbf's limit)")
    if int(bps) <= 0:
        raise BadValue(f"rate `{shorten(text)}` is zero", "a rate must be above zero")
    return int(bps)


def percent(text: str) -> float:
    m = _NUMBER_UNIT.match(text)
    if not m or m.group(2) != "%":
        raise BadValue(f"expected a percentage, got `{shorten(text)}`", "a percentage looks like 1% or 0.5%")
    v = _quantity(m)
    if v > 100:
        raise BadValue(f"{shorten(text)} is more than 100%")
    return v


def hostname(text: str) -> str:
    if len(text.encode()) > 64 or not _HOSTNAME.match(text):
        raise BadValue(f"`{shorten(text)}` is not a valid hostname",
                       "letters, digits and - in dot-separated labels, at most 64 bytes (the kernel's limit)")
    return text


def domain(text: str) -> str:
    if len(text) > 253 or not _HOSTNAME.match(text):
        raise BadValue(f"`{shorten(text)}` is not a valid domain name", "e.g. example.com")
    return text


def sysctl_key(text: str) -> str:
    if not _SYSCTL.match(text) or ".." in text:
        raise BadValue(f"`{shorten(text)}` is not a network sysctl",
                       "only net.* settings belong to a network namespace, e.g. net.ipv4.conf.all.rp_filter")
    return text.replace("/", ".")


def command(text: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(text))
    except ValueError as e:
        raise BadValue(f"cannot split the command: {e}", "quote it like a shell would, but no pipes or $VARS")
    if not argv:
        raise BadValue("the command is empty", 'e.g. run "python3 -m http.server 80"')
    return argv
