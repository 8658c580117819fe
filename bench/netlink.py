"""Benchmark: encoding and decoding `up`'s netlink messages, pipenet's `nlmsg` against pyroute2's classes.

    .venv/bin/python bench/netlink.py [--n 1000] [--runs 3] [--repeat 5] [--json OUT] [--write-docs]

Issue 15 asks whether pipenet should drop its hand-packed messages
(`pipenet/backends/nlmsg.py`) for pyroute2's message classes used on
pipenet's own per-namespace sockets, and decides by one rule: pyroute2 is
adopted if encoding and decoding every message of `up` with its classes
costs at most 5% of `up`'s wall time at N = 1,000.

Inside a private network and mount namespace (the test harness's holder;
the machine's own network is never touched), for N containers on one bridge
(bench/engine.py's topology):

1. `pipenet up` from nothing, --runs times (then `down`): the median wall
   time, the real CLI with Python's start-up, as bench/engine.py measures it.
2. The same `up` once more, recorded (`--record`, which wraps the `Netlink`
   class and runs the CLI in-process): every call made on a socket (its
   arguments, and the interface indices it looked up), every request it sent
   and every reply it read (except the answers to the messages a container's
   end gets in one send, `Netlink.link_set_many`: its requests are recorded,
   its three answers are not, so the decode rows leave them out).

Then, with no kernel involved, each of these over the whole recording, --repeat
times (the median is reported):

- nlmsg encode: every recorded call replayed on a `Netlink` whose `request()`
  only frames the message; the bytes are checked equal to the recorded ones
  (sequence numbers aside).
- pyroute2 encode: every recorded request built as a pyroute2 message
  (ifinfmsg, ifaddrmsg, rtmsg, tcmsg) from its fields and attributes and
  `encode()`d; checked equal to the recorded bytes too.
- nlmsg decode: every recorded reply read as pipenet reads it (an ack by its
  error field, an index lookup by the fixed header, a dump's messages by
  `nlmsg.decode`, a route dump's other tables skipped by header).
- pyroute2 decode: the same replies as pyroute2 messages (`nlmsgerr` for
  acks, the class of the type for the rest): `decode()` and the fields and
  attributes pipenet reads (`get_attr`); the same route messages skipped.
  The values are checked equal to nlmsg's.

It also measures, in a fresh interpreter, what importing those pyroute2
classes costs (pipenet loads pyroute2 today only to shape links), since
every `up` would pay it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PY = sys.executable
sys.path.insert(0, REPO)

#: the methods of `Netlink` that send requests; each outermost call is recorded with its arguments
CALLS = ("links", "link_index", "link_add", "link_set", "link_set_many", "brport_hairpin", "link_del", "group_del",
         "addr_add", "addr_del", "addrs", "route_add", "route_del", "routes", "qdiscs", "request")
#: the share of `up` at or under which issue 15 adopts pyroute2
RULE = 0.05


# ---- 2. recording ----------------------------------------------------------------------------------------
def record(out_path: str, argv: list[str]) -> int:
    """Run `pipenet ARGV` in this process with every Netlink call, request and reply written to
    OUT_PATH.PID (a forked child, such as the live check's, writes a file of its own)."""
    from pipenet.backends import netlink as NL
    from pipenet.backends import nlmsg as M

    local = threading.local()
    files: dict[int, object] = {}

    def save(call: dict) -> None:
        f = files.get(os.getpid())
        if f is None:
            f = files[os.getpid()] = open(f"{out_path}.{os.getpid()}", "wb")
        pickle.dump(call, f)
        f.flush()  # a forked child leaves by os._exit

    def names_in(values) -> set[str]:
        out = set()
        for v in values:
            if isinstance(v, str):
                out.add(v)
        return out

    def wrap(name: str):
        orig = getattr(NL.Netlink, name)

        def method(self, *args, **kw):
            call = getattr(local, "call", None)
            if call is not None:  # nested: part of the outer call
                result = orig(self, *args, **kw)
                if name in ("link_index", "link_set_many"):
                    call["lookups"][args[0]] = result
                return result
            call = {"method": name, "args": args, "kw": kw, "lookups": {}, "exchanges": [], "error": None,
                    "index": {n: self.index[n] for n in names_in(list(args) + list(kw.values()))
                              if n in self.index}}
            if name == "link_set_many":  # (its messages go out in one send, not through _exchange; their
                # answers are not recorded, so the decode rows leave them out)
                flags = M.NLM_F_REQUEST | M.NLM_F_ACK
                call["exchanges"] = [{"type": M.RTM_NEWLINK, "flags": flags, "body": self._set_msg(args[0], **c),
                                      "replies": []} for c in args[1]]
                call["exchanges"].append({"type": M.RTM_GETLINK, "flags": flags, "replies": [],
                                          "body": M.ifinfo() + M.string(M.IFLA_IFNAME, args[0])})
            local.call = call
            try:
                result = orig(self, *args, **kw)
                if name in ("link_index", "link_set_many"):  # (link_set_many reads the index it asks for)
                    call["lookups"][args[0]] = result
                return result
            except NL.NetlinkError as e:
                call["error"] = e.errno
                raise
            finally:
                local.call = None
                save(call)

        method.__name__ = name
        setattr(NL.Netlink, name, method)

    orig_exchange = NL.Netlink._exchange

    def exchange(self, mtype, flags, body, what="netlink request"):
        ex = {"type": mtype, "flags": flags, "body": bytes(body), "replies": []}
        call = getattr(local, "call", None)
        if call is not None:
            call["exchanges"].append(ex)
        for data, frames in orig_exchange(self, mtype, flags, body, what):
            for t, off, fl in frames:
                length = M.HDR.unpack_from(data, off)[0]
                ex["replies"].append((t, fl, bytes(data[off:off + length])))
            yield data, frames

    for name in CALLS:
        wrap(name)
    NL.Netlink._exchange = exchange
    sys.argv = ["pipenet", *argv]
    import runpy

    try:
        runpy.run_module("pipenet", run_name="__main__")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    return 0


def load_calls(prefix: str) -> list[dict]:
    calls = []
    d, base = os.path.split(prefix)
    for name in sorted(os.listdir(d)):
        if name.startswith(base + "."):
            with open(os.path.join(d, name), "rb") as f:
                while True:
                    try:
                        calls.append(pickle.load(f))
                    except EOFError:
                        break
    return calls


# ---- 3. the four measures ------------------------------------------------------------------------------
def replay_netlink():
    """A Netlink whose requests are framed and kept, never sent: pipenet's encoding alone."""
    from pipenet.backends import nlmsg as M
    from pipenet.backends.netlink import Netlink, NetlinkError

    class Replay(Netlink):
        def __init__(self):
            super().__init__(None)
            self.sent: list[bytes] = []
            self.lookups: dict[str, int] = {}

        def request(self, mtype, flags, body, what, keep=None):
            self.seq += 1
            self.sent.append(M.frame(mtype, flags, self.seq, body))
            return []

        def link_index(self, name):
            idx = self.index.get(name)
            if idx is not None:
                return idx
            # what Netlink.link_index sends on a miss (its reply is read by header: see nlmsg_decode)
            self.seq += 1
            self.sent.append(M.frame(M.RTM_GETLINK, M.NLM_F_REQUEST, self.seq,
                                     M.ifinfo() + M.string(M.IFLA_IFNAME, name)))
            if name not in self.lookups:
                raise NetlinkError(19, f"interface {name}")
            self.index[name] = idx = self.lookups[name]
            return idx

        def link_set_many(self, name, changes):
            # what Netlink.link_set_many sends in one send: each change, then the index lookup
            for c in changes:
                self.request(M.RTM_NEWLINK, M.NLM_F_REQUEST | M.NLM_F_ACK, self._set_msg(name, **c), f"set {name}")
            self.seq += 1
            self.sent.append(M.frame(M.RTM_GETLINK, M.NLM_F_REQUEST | M.NLM_F_ACK, self.seq,
                                     M.ifinfo() + M.string(M.IFLA_IFNAME, name)))
            self.index[name] = idx = self.lookups[name]
            return idx

    return Replay()


def nlmsg_encode(calls: list[dict], nl) -> list[bytes]:
    from pipenet.backends.netlink import NetlinkError

    nl.sent = []
    for c in calls:
        nl.index = dict(c["index"])
        nl.lookups = c["lookups"]
        try:
            getattr(nl, c["method"])(*c["args"], **c["kw"])
        except NetlinkError:
            if c["error"] is None:
                raise
    return nl.sent


def requests_of(calls: list[dict]) -> list[tuple[int, int, bytes]]:
    return [(ex["type"], ex["flags"], ex["body"]) for c in calls for ex in c["exchanges"]]


def pyroute2_classes() -> dict:
    from pyroute2.netlink import nlmsgerr
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg
    from pyroute2.netlink.rtnl.tcmsg import tcmsg

    from pipenet.backends import nlmsg as M

    by_type = {}
    for cls, types in ((ifinfmsg, (M.RTM_NEWLINK, M.RTM_DELLINK, M.RTM_GETLINK)),
                       (ifaddrmsg, (M.RTM_NEWADDR, M.RTM_DELADDR, M.RTM_GETADDR)),
                       (rtmsg, (M.RTM_NEWROUTE, M.RTM_DELROUTE, M.RTM_GETROUTE)),
                       (tcmsg, (M.RTM_NEWQDISC, M.RTM_DELQDISC, M.RTM_GETQDISC))):
        for t in types:
            by_type[t] = cls
    by_type[M.NLMSG_ERROR] = nlmsgerr
    return by_type


def _spec(value):
    """A pyroute2 dump() turned into what a caller hands pyroute2 to encode: fields by name, attributes
    as (name, value) pairs, nested ones as {"attrs": [...]}."""
    if isinstance(value, dict):
        out = {k: v for k, v in value.items() if k not in ("header", "__align", "state", "value")}
        if "attrs" in out:
            out["attrs"] = [(a[0], _spec(a[1])) for a in out["attrs"]]
        return out
    return value


def pyroute2_specs(requests, classes) -> list:
    """For each request: its class, type, flags and spec, read from the recorded bytes by pyroute2."""
    from pipenet.backends import nlmsg as M

    out = []
    for mtype, flags, body in requests:
        cls = classes[mtype]
        m = cls(M.frame(mtype, flags, 1, body))
        m.decode()
        out.append((cls, mtype, flags, _spec(m.dump())))
    return out


def pyroute2_encode(specs) -> list[bytes]:
    out = []
    for seq, (cls, mtype, flags, spec) in enumerate(specs, 1):
        m = cls()
        for k, v in spec.items():
            m[k] = v
        h = m["header"]
        h["type"] = mtype
        h["flags"] = flags
        h["sequence_number"] = seq
        h["pid"] = 0
        m.encode()
        out.append(m.data)
    return out


def replies_of(calls: list[dict]) -> list[tuple[str, int, int, bytes]]:
    """Every reply pipenet read, with how it reads it: "index" (a lookup's reply, by header), "dump"
    (decoded; "routes" when only the main table's unicast routes are decoded), "ack"."""
    from pipenet.backends import nlmsg as M

    out = []
    for c in calls:
        main_only = c["method"] == "routes" and c["kw"].get("main_only", False)
        for ex in c["exchanges"]:
            lookup = ex["type"] == M.RTM_GETLINK and not ex["flags"] & M.NLM_F_DUMP
            for t, fl, data in ex["replies"]:
                if t == M.NLMSG_ERROR:
                    out.append(("ack", t, fl, data))
                elif t == M.NLMSG_DONE:
                    continue  # its type is all either reads (from the header, the socket's own work)
                elif lookup:
                    out.append(("index", t, fl, data))
                else:
                    out.append(("routes" if main_only else "dump", t, fl, data))
    return out


def nlmsg_decode(replies) -> list:
    import struct

    from pipenet.backends import netlink as NL
    from pipenet.backends import nlmsg as M

    out = []
    decode, error, ext_ack, main = M.decode, NL._error, NL._ext_ack, NL._main_unicast
    index_of = struct.Struct("=i").unpack_from
    for how, t, _fl, data in replies:
        if how == "ack":
            err = error(data, 0)
            out.append(ext_ack(data, 0) if err < 0 else err)
        elif how == "index":
            out.append(index_of(data, 20)[0])
        elif how == "routes" and not main(data, 0):
            out.append(None)
        else:
            out.append(decode(data, 0, t))
    return out


#: what pipenet reads of each reply: fixed fields, and attributes (IFLA_LINKINFO: its kind and hairpin)
READS = {
    16: (("index", "flags"), ("IFLA_ADDRESS", "IFLA_IFNAME", "IFLA_MTU", "IFLA_MASTER", "IFLA_GROUP", "IFLA_IFALIAS",
                              "IFLA_LINK", "IFLA_LINK_NETNSID")),
    20: (("family", "prefixlen", "flags", "index"), ("IFA_ADDRESS", "IFA_LOCAL", "IFA_FLAGS", "IFA_PROTO")),
    24: (("family", "dst_len", "table", "proto", "type"), ("RTA_DST", "RTA_OIF", "RTA_GATEWAY", "RTA_PRIORITY",
                                                           "RTA_TABLE")),
    36: (("index", "handle", "parent"), ("TCA_KIND", "TCA_OPTIONS")),
}


def pyroute2_decode(replies, classes) -> list:
    from pipenet.backends import netlink as NL

    out = []
    main = NL._main_unicast
    for how, t, _fl, data in replies:
        if how == "routes" and not main(data, 0):
            out.append(None)
            continue
        m = classes[t](data)
        m.decode()
        if how == "ack":
            err = m["error"]
            out.append((m.get_attr("NLMSGERR_ATTR_MSG") or "") if err < 0 else err)
            continue
        if how == "index":
            out.append(m["index"])
            continue
        fields, attrs = READS[t]
        got = {f: m[f] for f in fields}
        got.update({a: m.get_attr(a) for a in attrs})
        if t == 16:
            info = m.get_attr("IFLA_LINKINFO")
            if info is not None:
                got["kind"] = info.get_attr("IFLA_INFO_KIND")
                slave = info.get_attr("IFLA_INFO_SLAVE_DATA")
                if slave is not None:
                    got["hairpin"] = slave.get_attr("IFLA_BRPORT_MODE")
        out.append(got)
    return out


def agree(ours, theirs) -> int:
    """How many decoded replies differ between nlmsg and pyroute2 (every attribute nlmsg read)."""
    bad = 0
    for a, b in zip(ours, theirs):
        if not hasattr(a, "attrs"):
            bad += a != b
            continue
        for name, value in a.attrs.items():
            if name == "IFLA_LINKINFO":
                same = value.get("kind") == b.get("kind") and value.get("hairpin") == (
                    None if b.get("hairpin") is None else bool(b["hairpin"]))
            elif name == "TCA_OPTIONS":
                continue  # raw bytes in nlmsg, a decoded structure in pyroute2
            else:
                same = value == b.get(name)
            if not same:
                bad += 1
                break
    return bad


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def unseq(frame: bytes) -> bytes:
    return bytes(frame[:8]) + bytes(frame[12:])


def import_cost(repeat: int) -> float:
    """Seconds to import pyroute2's message classes in a fresh interpreter (median)."""
    code = ("import time; t = time.perf_counter(); "
            "from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg; "
            "from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg; "
            "from pyroute2.netlink.rtnl.rtmsg import rtmsg; from pyroute2.netlink import nlmsgerr; "
            "print(time.perf_counter() - t)")
    runs = [float(subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(repeat)]
    return statistics.median(runs)


def measure(calls: list[dict], repeat: int) -> dict:
    from pipenet.backends import nlmsg as M

    requests = requests_of(calls)
    replies = replies_of(calls)
    classes = pyroute2_classes()
    recorded = [M.frame(t, fl, 1, body) for t, fl, body in requests]
    nl = replay_netlink()
    specs = pyroute2_specs(requests, classes)
    res = {"requests": len(requests), "replies": len(replies), "calls": len(calls),
           "sent_by_type": {}, "replies_by_kind": {}}
    for t, _fl, _b in requests:
        res["sent_by_type"][str(t)] = res["sent_by_type"].get(str(t), 0) + 1
    for how, t, _fl, _d in replies:
        k = f"{how} {t}"
        res["replies_by_kind"][k] = res["replies_by_kind"].get(k, 0) + 1
    res["bytes_sent"] = sum(16 + len(b) for _t, _f, b in requests)
    res["bytes_read"] = sum(len(d) for *_x, d in replies)
    gc.collect()
    res["nlmsg_encode"], ours = timed(lambda: nlmsg_encode(calls, nl), repeat)
    res["pyroute2_encode"], theirs = timed(lambda: pyroute2_encode(specs), repeat)
    res["nlmsg_decode"], ours_dec = timed(lambda: nlmsg_decode(replies), repeat)
    res["pyroute2_decode"], theirs_dec = timed(lambda: pyroute2_decode(replies, classes), repeat)
    want = [unseq(f) for f in recorded]
    res["nlmsg_bytes_differ"] = sum(a != b for a, b in zip([unseq(f) for f in ours], want)) + abs(len(ours) - len(want))
    res["pyroute2_bytes_differ"] = sum(a != b for a, b in zip([unseq(f) for f in theirs], want)) + abs(
        len(theirs) - len(want))
    res["decoded_values_differ"] = agree(ours_dec, theirs_dec)
    # the same decoding by kind of reply: acks, index lookups' replies, dumps' messages
    for kind, hows in (("acks", ("ack",)), ("lookups", ("index",)), ("dumps", ("dump", "routes"))):
        part = [r for r in replies if r[0] in hows]
        res[f"{kind}_count"] = len(part)
        res[f"nlmsg_decode_{kind}"] = timed(lambda: nlmsg_decode(part), repeat)[0]
        res[f"pyroute2_decode_{kind}"] = timed(lambda: pyroute2_decode(part, classes), repeat)[0]
    res["pyroute2_import"] = import_cost(repeat)
    return res


# ---- 1. and the run inside a private namespace -----------------------------------------------------------
def inside(n: int, runs: int, repeat: int) -> dict:
    from engine import pipenet, quiesce, settle, topology

    tmp = tempfile.mkdtemp(prefix="pipenet-bench-netlink-")
    path = os.path.join(tmp, f"bench{n}.pn")
    with open(path, "w") as f:
        f.write(topology(n))
    ups = []
    for _ in range(runs):
        ups.append(pipenet(str(n), "up", path))
        quiesce()
        pipenet(str(n), "down", "bench")
        settle()
    prefix = os.path.join(tmp, "rec")
    r = subprocess.run([PY, os.path.abspath(__file__), "--record", prefix, "--", "up", path],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"the recorded up failed: {r.stderr}")
    quiesce()
    pipenet(str(n), "down", "bench")
    calls = load_calls(prefix)
    res = measure(calls, repeat)
    res.update(n=n, up=statistics.median(ups), ups=ups)
    return res


def table(r: dict) -> str:
    up = r["up"]
    ours = r["nlmsg_encode"] + r["nlmsg_decode"]
    theirs = r["pyroute2_encode"] + r["pyroute2_decode"]
    share = theirs / up
    with_import = (theirs + r["pyroute2_import"]) / up
    verdict = ("pyroute2 (at most 5% of up)" if share <= RULE else
               "keep nlmsg and harden it (pyroute2 costs more than 5% of up"
               + (", its encoding alone" if r["pyroute2_encode"] / up > RULE else "") + ")")

    def row(label: str, a: float, b: float, count: int | None) -> str:
        def cell(t: float) -> str:
            each = f"{1e6 * t / count:.1f} us each; " if count else ""
            return f"{1e3 * t:.1f} ms ({each}{100 * t / up:.1f}% of up)"

        return f"| {label} | {cell(a)} | {cell(b)} | {b / a:.0f}x |"

    lines = [
        f"`up` of {r['n']:,} containers on one bridge: {up:.2f} s (median of {len(r['ups'])}); "
        f"{r['calls']:,} socket calls, {r['requests']:,} requests sent ({r['bytes_sent'] / 1e6:.2f} MB), "
        f"{r['replies']:,} replies read ({r['bytes_read'] / 1e6:.2f} MB); each figure the median of "
        f"{r['repeat']} passes over all of them:",
        "",
        "| | pipenet's nlmsg | pyroute2's classes | pyroute2 / nlmsg |",
        "|---|---|---|---|",
        row(f"encode every request ({r['requests']:,})", r["nlmsg_encode"], r["pyroute2_encode"], r["requests"]),
        row(f"decode every reply ({r['replies']:,})", r["nlmsg_decode"], r["pyroute2_decode"], r["replies"]),
    ]
    for kind, label in (("acks", "acks"), ("lookups", "replies to index lookups"), ("dumps", "dump messages")):
        if r.get(f"{kind}_count"):
            lines.append(row(f"of which {label} ({r[f'{kind}_count']:,})", r[f"nlmsg_decode_{kind}"],
                             r[f"pyroute2_decode_{kind}"], r[f"{kind}_count"]))
    lines += [
        row("**encode and decode**", ours, theirs, None),
        f"| importing pyroute2's classes (a fresh interpreter) | none | {1e3 * r['pyroute2_import']:.0f} ms "
        f"({100 * with_import:.1f}% of up with encode and decode) | |",
        "",
        f"Byte-for-byte: nlmsg's replayed requests differ from the recorded ones in {r['nlmsg_bytes_differ']}, "
        f"pyroute2's in {r['pyroute2_bytes_differ']}; decoded values differ in {r['decoded_values_differ']} "
        f"of {r['replies']:,} replies.",
        "",
        f"Decision (issue 15: pyroute2 if it costs at most 5% of up): {verdict}.",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--record":
        # --record PREFIX -- pipenet's arguments
        raise SystemExit(record(sys.argv[2], sys.argv[4:]))
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3, help="timed `up`s (median)")
    ap.add_argument("--repeat", type=int, default=5, help="passes of each encode/decode measure (median)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--write-docs", action="store_true", help="put the table into docs/performance.md")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inside:
        res = inside(a.n, a.runs, a.repeat)
        res["repeat"] = a.repeat
        print(json.dumps(res))
        return
    from tests.harness import Netns

    subprocess.run([PY, "-m", "compileall", "-q", os.path.join(REPO, "pipenet")], check=True)
    ns = Netns()
    try:
        r = ns.run([PY, os.path.abspath(__file__), "--inside", "--n", str(a.n), "--runs", str(a.runs),
                    "--repeat", str(a.repeat)], timeout=3600)
        sys.stderr.write(r.stderr)
        res = json.loads(r.stdout)
    finally:
        ns.close()
    print(table(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    if a.write_docs:
        from report import write_section

        args = [x for i, x in enumerate(sys.argv[1:]) if x != "--json" and sys.argv[i] != "--json"]
        write_section("netlink", ".venv/bin/python bench/netlink.py " + " ".join(args), table(res))


if __name__ == "__main__":
    main()
