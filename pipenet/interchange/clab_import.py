"""`pipenet import LAB.clab.yml`: a containerlab topology as a `.pn` file.

Why a converter and not a second front end: a containerlab file describes
containers made from images, which pipenet does not run; what it can carry
(the wiring, the management network, published ports, the commands a node
runs) becomes ordinary pipenet statements that the user can read, check and
change. Everything it cannot carry is said, one located warning a field,
never dropped silently. What is wrong with the file as containerlab input (a
link to a node that does not exist, a name that cannot be a pipenet name) is
an error, located, and nothing is written. docs/containerlab.md has the
mapping.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

from netaddr import AddrFormatError, IPAddress, IPNetwork

from pipenet.diagnostics import Diagnostic
from pipenet.errors import InvalidTopology
from pipenet.interchange import ipcommands
from pipenet.interchange.located_yaml import Y, load
from pipenet.lang.values import IFNAME_RE, NAME_RE
from pipenet.results import Conversion
from pipenet.source import SourceFile

#: containerlab's management network when the file says nothing (docs: manual/network, "default settings")
MGMT_NETWORK = "clab"
MGMT_SUBNET = "172.20.20.0/24"
#: the kinds pipenet carries, and the ones it refuses with a reason of their own
CARRIED = ("linux", "bridge", "host", "ext-container")
REFUSED = {"ovs-bridge": "pipenet makes Linux bridges; an Open vSwitch bridge is not one it can make or use"}
NODE_FIELDS = ("kind", "image", "exec", "ports", "env", "binds", "network-mode", "mgmt-ipv4", "mgmt-ipv6",
               "mgmt_ipv6", "dns", "sysctls")
_PORT = re.compile(r"(?:(?P<ip>\d+\.\d+\.\d+\.\d+):)?(?:(?P<hp>\d+)?:)?(?P<cp>\d+)(?:/(?P<proto>[a-z]+))?\Z")
_PATH = re.compile(r"/[A-Za-z0-9_:/%+.-]*\Z")  # a path pipenet can write as one word
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PIPENET_NAME = re.compile(r"pn[0-9a-f]{10}\Z")
#: what a value written into a statement unquoted may hold: one word of the language, nothing that could end
#: the statement or the block (a newline, `;`, `{`, `}`, `"`, `#`) and so add statements the file never said
_WORD = re.compile(r"[A-Za-z0-9_.:/%+-]+\Z")
_MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\Z")
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}\Z")  # a bridge port's host end as pipenet names it


@dataclass
class Node:
    name: str
    kind: str
    y: Y
    lines: list[str] = field(default_factory=list)  # statements of its container block
    ifaces: dict[str, int] = field(default_factory=dict)  # an `interface` statement's index in lines
    nets: list = field(default_factory=list)  # the subnets of the addresses its commands gave it
    pending: tuple = ()  # its exec commands and env words, read once its links are known


@dataclass
class P2P:
    ends: list  # [node, interface, address or None], twice
    mtu: str | None = None

    def __str__(self) -> str:
        a, b = (f"{n}:{i}" + (f" {addr}" if addr else "") for n, i, addr in self.ends)
        return f"p2p {a} -- {b}" + (f" {{ mtu {self.mtu} }}" if self.mtu else "")


def convert(path: str, out: str | None = None) -> Conversion:
    """The `.pn` text for the containerlab file at `path` (bind sources written relative to `out`'s
    directory), with one warning per field it cannot carry. InvalidTopology, located, when the file
    cannot be read as a containerlab topology."""
    from pipenet.lang.fmt import format_text
    from pipenet.lang.load import read

    text = read(path)
    sources = {path: SourceFile(path, text)}
    try:
        doc = load(text, path)
        conv = _Import(doc, path, os.path.dirname(os.path.abspath(out or path)))
        pn = conv.run()
    except InvalidTopology as e:
        raise InvalidTopology(e.diagnostics, sources) from None
    if conv.errors:
        raise InvalidTopology(conv.errors, sources)
    return Conversion(format_text(pn), sorted(conv.warnings, key=Diagnostic.sort_key), sources)


class _Import:
    def __init__(self, doc: Y, path: str, out_dir: str):
        self.doc, self.path, self.out_dir = doc, path, out_dir
        self.errors: list[Diagnostic] = []
        self.warnings: list[Diagnostic] = []
        self._said: set = set()
        self.nodes: dict[str, Node] = {}
        self.dropped: set[str] = set()
        self.hosts: set[str] = {"host"}
        self.bridges: list[str] = []
        self.p2p: list[P2P] = []
        self.mgmt_used = False
        self.defaults: dict[str, Y] = {}
        self.kinds: dict[str, Y] = {}

    # ---- messages --------------------------------------------------------------------------------
    def warn(self, y: Y, message: str, hint: str | None = None, key: bool = True) -> None:
        span = y.at if key else y.span
        if (span, message) not in self._said:  # a field inherited by many nodes is said once, where written
            self._said.add((span, message))
            self.warnings.append(Diagnostic(message, span, hint, "warning"))

    def error(self, y: Y, message: str, hint: str | None = None) -> None:
        if (y.span, message) not in self._said:  # (a field read once for each node that inherits it)
            self._said.add((y.span, message))
            self.errors.append(Diagnostic(message, y.span, hint))

    def word(self, y: Y | None, what: str, pattern: re.Pattern = _WORD) -> Y | None:
        """y when its text can be written unquoted as one word (`pattern`), else an error and None."""
        if y is None or pattern.match(y.text):
            return y
        shown = y.text[:40].replace("\n", "\\n")
        self.error(y, f"`{shown}` is not {what}", "a value carried into a statement is one word")
        return None

    def mapping(self, y: Y | None, what: str) -> dict[str, Y]:
        if y is None or y.value is None:
            return {}
        if not isinstance(y.value, dict):
            self.error(y, f"{what} should be a mapping")
            return {}
        return y.value

    def sequence(self, y: Y | None, what: str) -> list[Y]:
        if y is None or y.value is None:
            return []
        if not isinstance(y.value, list):
            self.error(y, f"{what} should be a list")
            return []
        return y.value

    # ---- the file --------------------------------------------------------------------------------
    def run(self) -> str:
        top = self.mapping(self.doc, "a containerlab topology")
        topo = top.get("topology")
        nodes = topo.get("nodes") if topo is not None else None
        if nodes is None or not isinstance(nodes.value, dict):
            raise InvalidTopology([Diagnostic("not a containerlab topology: no `topology:` with `nodes:`",
                                              (topo or self.doc).span, "see containerlab's topology definition")])
        for k, y in top.items():
            if k not in ("name", "mgmt", "topology"):
                self.warn(y, f"`{k}` is not carried: pipenet names its namespaces TOPOLOGY@NODE"
                          if k == "prefix" else f"`{k}` is not carried")
        head = []
        name = top.get("name")
        if name is not None:
            if not NAME_RE.match(name.text) or len(name.text) > 32:
                self.error(name, f"`{name.text}` cannot be a pipenet topology name",
                           "a letter or _ first, then letters, digits, _, - or .; 32 characters at most")
            else:
                head.append(f"topology {name.text}")
        for k, y in topo.value.items():
            if k not in ("nodes", "links", "defaults", "kinds"):
                self.warn(y, f"`topology.{k}` is not carried")
        self.defaults = self.mapping(topo.get("defaults"), "topology.defaults")
        self.kinds = self.mapping(topo.get("kinds"), "topology.kinds")
        for name_, y in nodes.value.items():
            self.node(name_, y)
        for n in self.nodes.values():
            self.node_body(n)
        for link in self.sequence(topo.get("links"), "topology.links"):
            self.link(link)
        for n in self.nodes.values():
            if n.pending:
                self.commands(n, *n.pending)
        mgmt = self.mgmt(self.mapping(top.get("mgmt"), "mgmt"), top.get("mgmt")) if self.mgmt_used else []
        out = ["# converted by `pipenet import` from " + os.path.basename(self.path), *head, *mgmt]
        out += [f"bridge {b}" for b in self.bridges]
        for n in self.nodes.values():
            body = "; ".join(n.lines)
            out.append(f"container {n.name}" + (f" {{ {body} }}" if body else ""))
        return "\n".join(out + [str(p) for p in self.p2p]) + "\n"

    # ---- nodes -------------------------------------------------------------------------------------
    def levels(self, name: str, y: Y, kind: str) -> list[tuple[dict[str, Y], str]]:
        """Where a node's fields are given, least specific first: the defaults, its kind's, its own."""
        return [(self.defaults, "topology.defaults"),
                (self.mapping(self.kinds.get(kind), f"topology.kinds.{kind}"), f"topology.kinds.{kind}"),
                (self.mapping(y, f"node {name}"), f"node {name}")]

    def field(self, name: str, y: Y, kind: str, field: str) -> Y | None:
        """A node's field, or its kind's, or the defaults' (containerlab's order)."""
        for level, _ in reversed(self.levels(name, y, kind)):
            if field in level:
                return level[field]
        return None

    def node(self, name: str, y: Y) -> None:
        kind_y = self.field(name, y, "", "kind")
        kind = kind_y.text if kind_y is not None else ""
        if not kind:
            self.error(y if y.value is not None else Y(None, y.key or y.span), f"node {name} has no kind",
                       "give it `kind: linux` (or set topology.defaults.kind)")
            return
        if kind in REFUSED:
            self.warn(kind_y, f"node {name} (kind {kind}) is left out, with its links: {REFUSED[kind]}")
            self.dropped.add(name)
            return
        if kind not in CARRIED:
            self.warn(kind_y, f"node {name} (kind {kind}) is left out, with its links: a network operating system "
                      "image is not something pipenet runs", "pipenet's nodes are Linux network namespaces")
            self.dropped.add(name)
            return
        if kind == "host":
            self.hosts.add(name)
            for k, v in self.mapping(y, f"node {name}").items():
                if k != "kind":
                    self.warn(v, f"`{k}` of host node {name} is not carried: pipenet changes the host only "
                              "through a `host` block")
            return
        if not NAME_RE.match(name) or len(name) > 64 or name == "host":
            self.error(Y(name, y.key or y.span), f"node name `{name}` cannot be a pipenet name",
                       "`host` is the host's" if name == "host" else
                       "a letter or _ first, then letters, digits, _, - or .")
            return
        if kind == "bridge":
            if not IFNAME_RE.match(name):
                self.error(Y(name, y.key or y.span), f"bridge `{name}` cannot be a Linux interface name",
                           "1 to 15 letters, digits, _, . or -")
                return
            self.bridges.append(name)
            for k, v in self.mapping(y, f"node {name}").items():
                if k != "kind":
                    self.warn(v, f"`{k}` of bridge {name} is not carried")
            return
        self.nodes[name] = Node(name, kind, y)

    def node_body(self, n: Node) -> None:
        get = lambda f: self.field(n.name, n.y, n.kind, f)  # noqa: E731
        for level, where in self.levels(n.name, n.y, n.kind):
            for k, v in level.items():
                if k not in NODE_FIELDS:
                    self.warn(v, f"`{k}` ({where}) is not carried")
        if n.kind == "ext-container":
            n.lines.append(f"attach docker {n.name}")
            return
        image = get("image")
        if image is not None:
            self.warn(image, f"image {image.text} is not used: a pipenet container is a network namespace that "
                      "runs the host's own programs")
        self.net(n, get("network-mode"), get("mgmt-ipv4"))
        for y in (get("mgmt-ipv6"), get("mgmt_ipv6")):
            if y is not None:
                self.warn(y, "mgmt-ipv6 is not carried: the management bridge has one (IPv4) address")
        self.ports(n, get("ports"))
        self.dns(n, get("dns"))
        for k, v in self.mapping(get("sysctls"), "sysctls").items():
            if re.fullmatch(r"net(?:\.[A-Za-z0-9_-]+)+", k) and re.fullmatch(r"[A-Za-z0-9_.-]+", v.text):
                n.lines.append(f"sysctl {k} {v.text}")
            else:
                self.warn(v, f"sysctl {k} is not carried: only net.* sysctls belong to a network namespace")
        n.pending = (get("exec"), self.env(n))
        self.binds(n)

    def net(self, n: Node, mode: Y | None, ipv4: Y | None) -> None:
        m = mode.text if mode is not None else ""
        if m in ("", "bridge"):
            self.mgmt_used = True
            n.lines.insert(0, "net {mgmt}")
            if ipv4 is not None:
                try:
                    n.lines.insert(1, f"address {IPAddress(ipv4.text.split('/')[0], 4)}")
                except (AddrFormatError, ValueError):
                    self.error(ipv4, f"mgmt-ipv4 `{ipv4.text}` is not an IPv4 address")
            return
        if ipv4 is not None:
            self.warn(ipv4, f"mgmt-ipv4 is not carried: node {n.name} is not on the management network")
        if m == "host":
            n.lines.insert(0, "net host")
        elif m.startswith("container:"):
            other = m.split(":", 1)[1]
            if other in self.nodes and other != n.name:
                n.lines.insert(0, f"net container {other}")
            else:
                self.warn(mode, f"network-mode {m} is not carried: {other} is not a linux node of this topology",
                          "to use a container made by another tool, `attach docker NAME`")
        elif m != "none":
            self.warn(mode, f"network-mode {m} is not carried (pipenet knows host, none and container:NODE)")

    def ports(self, n: Node, ports: Y | None) -> None:
        for p in self.sequence(ports, "ports"):
            m = _PORT.match(p.text)
            if not m or (m["proto"] or "tcp") not in ("tcp", "udp"):
                self.warn(p, f"port {p.text} is not carried (pipenet publishes one tcp or udp port a line)",
                          key=False)
                continue
            if not n.lines or not n.lines[0].startswith("net {mgmt}"):
                self.warn(p, f"port {p.text} is not carried: node {n.name} is not on the management network",
                          key=False)
                continue
            head = f"{m['ip']}:" if m["ip"] else ""
            hp = f"{m['hp']}:" if m["hp"] else (":" if head else "")
            n.lines.append(f"publish {head}{hp}{m['cp']}/{m['proto'] or 'tcp'}")

    def dns(self, n: Node, dns: Y | None) -> None:
        for k, v in self.mapping(dns, "dns").items():
            found = [self.word(s, "a DNS server" if k == "servers" else "a search domain")
                     for s in self.sequence(v, f"dns.{k}")]
            if None in found:
                continue
            values = [s.text for s in found]
            if k == "servers" and values:
                n.lines.append("dns " + " ".join(values))
            elif k == "search" and values:
                n.lines.append("dns-search " + " ".join(values))
            elif values:
                self.warn(v, f"dns {k} is not carried")

    def env(self, n: Node) -> tuple[list[str], Y | None]:
        """KEY=VALUE words for `env` before each run command (merged: defaults, kind, node), and where
        the node's env was written."""
        merged: dict[str, str] = {}
        where = None
        for level, _ in self.levels(n.name, n.y, n.kind):
            for k, v in self.mapping(level.get("env"), "env").items():
                where = level.get("env")
                if not _ENV_NAME.match(k):
                    self.warn(v, f"environment variable {k} is not carried")
                else:
                    merged[k] = v.text
        return [f"{k}={v}" for k, v in merged.items()], where

    def commands(self, n: Node, exec_: Y | None, env: tuple[list[str], Y | None]) -> None:
        words, where = env
        cmds = [exec_] if exec_ is not None and isinstance(exec_.value, str) else self.sequence(exec_, "exec")
        if words and not cmds:
            self.warn(where, f"env of node {n.name} is not carried: pipenet gives an environment to `run` "
                      "processes only, and this node has no exec")
        prefix = ("env " + " ".join(shlex.quote(w) for w in words) + " ") if words else ""
        for c in cmds:
            if isinstance(c.value, (dict, list)):
                self.error(c, "an exec command should be a string")
                continue
            cmd = c.text.replace("$$", "\0")
            if "$" in cmd:
                self.warn(c, "an exec command with $VARIABLES is not carried: containerlab expands them "
                          "from its own environment", key=False)
                continue
            cmd = cmd.replace("\0", "$")
            try:
                meaning = ipcommands.read(shlex.split(cmd))
            except ValueError:
                meaning = None
            if meaning is None or not self.carry(n, meaning):
                n.lines.append(f"run {quote(prefix + cmd)}")

    def carry(self, n: Node, meaning: tuple) -> bool:
        """Put what an exec command means into the node's statements, when pipenet has the statement and
        the command fits what the file already says (an address on an interface of this node, a route
        through one of the addresses given so); False leaves it a `run`."""
        what, args = meaning[0], meaning[1:]
        ends = [e for p in self.p2p for e in p.ends if e[0] == n.name and e[1] == args[0]] if args else []
        if what == "up":
            return bool(ends) or args[0] in n.ifaces
        if what == "address":
            net = IPNetwork(args[1])
            if ends and ends[0][2] is None:
                ends[0][2] = args[1]
            elif args[0] in n.ifaces and " address " not in n.lines[n.ifaces[args[0]]]:
                n.lines[n.ifaces[args[0]]] += f" address {args[1]}"
            else:
                return False
            n.nets.append(net)
            return True
        if what == "route":
            dest, via, dev = args
            if via is not None and any(IPAddress(via) in net and IPAddress(via).version == net.version
                                       for net in n.nets):
                n.lines.append(f"route {dest} via {via}")
                return True
            if via is None and dev is not None and (dev in n.ifaces or any(
                    e[0] == n.name and e[1] == dev for p in self.p2p for e in p.ends)):
                n.lines.append(f"route {dest} dev {dev}")
                if dest != "default":
                    n.nets.append(IPNetwork(dest))  # a gateway there is on a link (a p2p peer's /32)
                return True
            return False
        if what == "forwarding":
            n.lines.append("forwarding on")
        else:
            n.lines.append(f"masquerade out {args[0]}")
        return True

    def binds(self, n: Node) -> None:
        by_dest: dict[str, Y] = {}
        for level, _ in self.levels(n.name, n.y, n.kind):
            for b in self.sequence(level.get("binds"), "binds"):
                parts = b.text.split(":")
                by_dest[parts[1] if len(parts) > 1 else parts[0]] = b
        for dest, b in by_dest.items():
            parts = b.text.split(":")
            if "__clab" in b.text or len(parts) > 3 or not _PATH.match(dest):
                self.warn(b, f"bind {b.text} is not carried", key=False)
                continue
            if len(parts) == 1:  # an anonymous volume: an empty directory of the container's own
                n.lines.append(f"private {dest}")
                continue
            src = os.path.expanduser(parts[0])
            full = src if os.path.isabs(src) else os.path.join(os.path.dirname(os.path.abspath(self.path)), src)
            shown = src if os.path.isabs(src) else os.path.relpath(full, self.out_dir)
            if os.path.isfile(full):
                n.lines.append(f"file {dest} from {quote(shown)}")
            elif os.path.isdir(full):
                n.lines.append(f"private {dest}")
                self.warn(b, f"bind {b.text}: {dest} becomes a private directory of the node; the contents of "
                          f"{parts[0]} are not copied", key=False)
            else:
                self.warn(b, f"bind {b.text} is not carried: {parts[0]} is neither a file nor a directory here",
                          key=False)

    # ---- links ----------------------------------------------------------------------------------------
    def endpoint(self, y: Y) -> tuple[str, str, str | None] | None:
        """(node, interface, mac) of `"node:if"` or `{node:, interface:, mac:}`; None after an error."""
        if isinstance(y.value, dict):
            node, iface, mac = y.get("node"), y.get("interface"), y.get("mac")
            if node is None or iface is None:
                self.error(y, "an endpoint needs `node` and `interface`")
                return None
            if mac is not None and self.word(mac, "a MAC address", _MAC) is None:
                return None
            return node.text, iface.text, mac.text if mac is not None else None
        if ":" not in y.text:
            self.error(y, f"endpoint `{y.text}` is not NODE:INTERFACE")
            return None
        node, iface = y.text.split(":", 1)
        return node, iface, None

    def link(self, link: Y) -> None:
        kind = link.get("type").text if link.get("type") is not None else "veth"
        if kind not in ("veth", "host", "mgmt-net", "macvlan", "dummy"):
            self.warn(link.get("type"), f"a link of type {kind} is not carried")
            return
        for k, v in self.mapping(link, "a link").items():
            if k not in ("type", "endpoints", "endpoint", "mtu", "host-interface", "mode"):
                self.warn(v, f"`{k}` of a link is not carried")
        mtu = self.word(link.get("mtu"), "an MTU", re.compile(r"[0-9]{1,5}\Z"))
        if link.get("mtu") is not None and mtu is None:
            return
        if kind == "veth":
            eps = self.sequence(link.get("endpoints"), "endpoints")
            if len(eps) != 2:
                self.error(link.get("endpoints") or link, "a veth link has two endpoints")
                return
            ends = [self.endpoint(e) for e in eps]
            if None not in ends:
                self.wire(link, eps, ends, mtu)
            return
        ep = link.get("endpoint")
        host_if = link.get("host-interface")
        end = self.endpoint(ep) if ep is not None else self.error(link, f"a {kind} link needs `endpoint`")
        if end is None:
            return
        if kind != "dummy" and host_if is None:
            self.error(link, f"a {kind} link needs `host-interface`")
            return
        other = (kind if kind != "host" else "host", host_if.text if host_if is not None else "", None)
        if kind == "dummy":
            if self.usable(ep, end):
                node = self.nodes[end[0]]
                node.ifaces[end[1]] = len(node.lines)
                node.lines.append(f"interface {end[1]} dummy" + _mtu(mtu))
            return
        mode = self.word(link.get("mode"), "a macvlan mode", re.compile(r"(bridge|private|vepa|passthru|source)\Z"))
        if link.get("mode") is not None and mode is None:
            return
        self.wire(link, [ep, host_if], [end, other], mtu, mode.text if mode is not None else None)

    def usable(self, y: Y, end: tuple) -> bool:
        node, iface = end[0], end[1]
        if node in self.dropped:
            self.warn(y, f"link of {node}:{iface} is left out: node {node} is not converted", key=False)
            return False
        if node not in self.nodes:
            self.error(y, f"endpoint {node}:{iface} names no node of topology.nodes")
            return False
        if not IFNAME_RE.match(iface):
            self.error(y, f"`{iface}` cannot be a Linux interface name", "1 to 15 letters, digits, _, . or -")
            return False
        return True

    def role(self, node: str) -> str:
        if node in self.hosts:
            return "host"
        if node in self.bridges:
            return "bridge"
        if node in ("macvlan", "mgmt-net") and node not in self.nodes:
            return node
        return "node"

    def wire(self, link: Y, ys: list[Y], ends: list[tuple], mtu: Y | None, mode: str | None = None) -> None:
        if any(e[0] in self.dropped for e in ends):
            self.warn(link, "link is left out: one of its nodes is not converted", key=False)
            return
        roles = [self.role(e[0]) for e in ends]
        if roles[0] != "node":  # the container end first
            ys, ends, roles = ys[::-1], ends[::-1], roles[::-1]
        if roles[0] != "node":
            self.warn(link, "a link between two nodes of kind bridge or host is not carried", key=False)
            return
        if not self.usable(ys[0], ends[0]):
            return
        (a, aif, amac), (b, bif, bmac) = ends
        if roles[1] == "node":
            if not self.usable(ys[1], ends[1]):
                return
            for y, mac in ((ys[0], amac), (ys[1], bmac)):
                if mac:
                    self.warn(y.get("mac") or y, "the MAC of a point-to-point end is not carried "
                              "(pipenet derives it)")
            self.p2p.append(P2P([[a, aif, None], [b, bif, None]], mtu.text if mtu is not None else None))
            return
        if roles[1] != "mgmt-net" and not IFNAME_RE.match(bif):
            self.error(ys[1], f"`{bif}` cannot be a Linux interface name", "1 to 15 letters, digits, _, . or -")
            return
        mac = f" mac {amac}" if amac else ""
        named = "" if _PIPENET_NAME.match(bif) else f" host-name {bif}"  # pipenet's own name: it makes it again
        node = self.nodes[a]
        lines = node.lines
        if roles[1] != "host":
            node.ifaces[aif] = len(lines)
        if roles[1] == "host":
            self.p2p.append(P2P([[a, aif, None], ["host", bif, None]], mtu.text if mtu is not None else None))
            if amac:
                self.warn(ys[0].get("mac") or ys[0], "the MAC of a point-to-point end is not carried")
        elif roles[1] == "bridge":
            lines.append(f"interface {aif} on {b}{named}{mac}" + _mtu(mtu))
        elif roles[1] == "mgmt-net":
            self.mgmt_used = True
            lines.append(f"interface {aif} on {{mgmt}}{named}{mac}" + _mtu(mtu))
        else:  # macvlan
            lines.append(f"interface {aif} macvlan of host:{bif}" + (f" mode {mode}" if mode else "") + mac)

    # ---- the management network -----------------------------------------------------------------------
    def mgmt(self, m: dict[str, Y], where: Y | None) -> list[str]:
        """The management network as a bridge with NAT (the `{mgmt}` of the nodes' statements)."""
        for k, v in m.items():
            if k not in ("network", "bridge", "ipv4-subnet", "ipv4-gw", "ipv4-range", "mtu"):
                self.warn(v, f"mgmt {k} is not carried" + (": the management bridge has one (IPv4) address"
                                                           if k.startswith("ipv6") else ""))
        named = m.get("bridge") or m.get("network")
        name = named.text if named is not None else MGMT_NETWORK
        if not NAME_RE.match(name) or not IFNAME_RE.match(name):
            self.error(named, f"management network `{name}` cannot be a bridge's name",
                       "1 to 15 letters, digits, _, . or -, a letter or _ first")
        if name in self.nodes or name in self.bridges:
            self.error(named or where or self.doc, f"the management network's bridge `{name}` has the name of a node",
                       "name it with mgmt.network")
        for n in self.nodes.values():
            n.lines = [line.replace("{mgmt}", name) for line in n.lines]
        body = []
        sub = m.get("ipv4-subnet")
        if sub is not None and sub.text == "auto":
            body.append("address auto")
        else:
            try:
                net = IPNetwork(sub.text if sub is not None else MGMT_SUBNET, version=4)
                gw = self.word(m.get("ipv4-gw"), "an IPv4 address", _IPV4)
                gateway = gw.text if gw is not None else net.network + 1
                body.append(f"address {gateway}/{net.prefixlen}")
                rng = m.get("ipv4-range")
                if rng is not None:
                    body.append(f"pool {IPNetwork(rng.text, version=4).cidr}")
            except (AddrFormatError, ValueError):
                self.error(sub, f"`{sub.text}` is not an IPv4 subnet")
        if self.word(m.get("mtu"), "an MTU", re.compile(r"[0-9]{1,5}\Z")) is not None:
            body.append(f"mtu {m['mtu'].text}")
        body.append("masquerade on")
        return [f"bridge {name} {{ {'; '.join(body)} }}"]


def _mtu(mtu: Y | None) -> str:
    return f" mtu {mtu.text}" if mtu is not None else ""


def quote(text: str) -> str:
    """`text` as a pipenet string: its four escapes, nothing else."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
