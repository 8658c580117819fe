"""pipenet's netlink code against the real kernel, in the harness's private namespaces: the kernel's own
words in refusals (extended acks, with and without capped acks), the receive timeout, and dumps that
span many receive buffers. Each test runs a small script inside the namespace (`python -c`)."""

from __future__ import annotations

import json
import sys
import textwrap

REFUSALS = textwrap.dedent("""\
    import json, socket
    from pipenet.backends import netlink as NL
    from pipenet.backends.netlink import Netlink, NetlinkError

    def outcome(fn):
        try:
            fn()
        except NetlinkError as e:
            return {"errno": e.errno, "detail": e.detail, "text": str(e)}
        return None

    out = {}
    for capped in (True, False):
        nl = Netlink.open_here()
        if not capped:  # the error then carries the whole request before the kernel's words
            nl.sock.setsockopt(NL.SOL_NETLINK, NL.NETLINK_CAP_ACK, 0)
        out[f"route capped={capped}"] = outcome(lambda: nl.route_add("10.9.0.0/16", "10.99.0.1", None, None))
        out[f"name capped={capped}"] = outcome(lambda: nl.link_add("x" * 20, "veth", peer={"ifname": "y"}))
        out[f"peer name capped={capped}"] = outcome(lambda: nl.link_add("v0", "veth", peer={"ifname": "y" * 20}))
        out[f"prefix capped={capped}"] = outcome(lambda: nl.addr_add("lo", "10.0.0.1", 40))
        out[f"kind capped={capped}"] = outcome(lambda: nl.link_add("d0", "nosuchkind"))
        out[f"lookup capped={capped}"] = outcome(lambda: nl.link_index("nosuch"))
        nl.close()
    print(json.dumps(out))
""")


def test_the_kernels_refusals_carry_its_own_words(netns):
    out = json.loads(netns.out([sys.executable, "-c", REFUSALS]))
    for capped in (True, False):
        route = out[f"route capped={capped}"]
        assert route == {"errno": 101, "detail": "Nexthop has invalid gateway",
                         "text": "[Errno 101] add route 10.9.0.0/16: Network is unreachable "
                                 "(Nexthop has invalid gateway)"}, route
        prefix = out[f"prefix capped={capped}"]
        assert prefix["errno"] == 22 and prefix["detail"] == "ipv4: Invalid prefix length", prefix
        assert prefix["text"].endswith("add 10.0.0.1/40 to lo: Invalid argument (ipv4: Invalid prefix length)")
        kind = out[f"kind capped={capped}"]
        assert kind["errno"] == 95 and kind["detail"] == "Unknown device type", kind
        for key in ("name", "peer name"):  # a name longer than IFNAMSIZ: refused by the attribute policy
            e = out[f"{key} capped={capped}"]
            assert e["errno"] == 34 and e["detail"] and f"({e['detail']})" in e["text"], e
        # a refusal without words says only the reason (an index lookup is answered without extended ack)
        assert out[f"lookup capped={capped}"] == {"errno": 19, "detail": "",
                                                  "text": "[Errno 19] interface nosuch: No such device"}


TIMEOUT = textwrap.dedent("""\
    import json, socket, struct, time
    from pipenet.backends import netlink as NL
    from pipenet.backends import nlmsg as M
    from pipenet.backends.netlink import Netlink, NetlinkError

    sock = Netlink.open_here(big=False).sock
    sec, usec = struct.unpack("@ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
    out = {"default": sec + usec / 1e6, "python's own": sock.gettimeout()}
    NL.TIMEOUT_SECONDS = 0.5
    nl = Netlink.open_here()
    t = time.monotonic()
    try:  # set lo up without asking for an ack: the kernel sends nothing back
        nl.request(M.RTM_NEWLINK, M.NLM_F_REQUEST, M.ifinfo(1, 1, 1), "raise lo")
    except NetlinkError as e:
        out["error"] = [e.errno, str(e)]
    out["waited"] = time.monotonic() - t
    out["then"] = nl.link_index("lo")  # the socket still works afterwards
    print(json.dumps(out))
""")


def test_a_request_the_kernel_never_answers_times_out_and_the_socket_still_works(netns):
    out = json.loads(netns.out([sys.executable, "-c", TIMEOUT]))
    from pipenet.backends.netlink import TIMEOUT_SECONDS

    assert out["default"] == TIMEOUT_SECONDS  # the kernel's timeout, on a blocking socket (no poll per read)
    assert out["python's own"] is None
    assert out["error"] == [110, "[Errno 110] raise lo: Connection timed out (no answer within 0.5 s)"]
    assert 0.4 <= out["waited"] < 5
    assert out["then"] == 1


DUMPS = textwrap.dedent("""\
    import json, socket
    from pipenet.backends.netlink import Netlink

    out = {}
    for big in (True, False):
        nl = Netlink.open_here(big=big)
        links = nl.links()
        out[f"big={big}"] = {"names": sorted(m.get_attr("IFLA_IFNAME") for m in links),
                             "kinds": sorted({(m.get_attr("IFLA_LINKINFO") or {}).get("kind") or "" for m in links}),
                             "addrs": sorted(f"{m.get_attr('IFA_LOCAL')}/{m['prefixlen']}"
                                             for m in nl.addrs(socket.AF_INET))}
    print(json.dumps(out))
""")


def test_dumps_of_many_receive_buffers_read_every_interface_and_address(netns):
    batch = "".join(f"link add vk{i} type veth peer name vp{i}\naddr add 10.{i // 250}.{i % 250}.1/32 dev vk{i}\n"
                    for i in range(400))
    netns.run(["ip", "-batch", "-"], input=batch)
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in netns.out(["ip", "-o", "link"]).splitlines())
    addrs = sorted(line.split()[3] for line in netns.out(["ip", "-o", "-4", "addr"]).splitlines())
    out = json.loads(netns.out([sys.executable, "-c", DUMPS]))
    assert len(names) > 800
    for big in (True, False):  # (small buffers: a container's socket; the dump spans dozens of reads)
        got = out[f"big={big}"]
        assert got["names"] == names
        assert got["addrs"] == addrs and len(addrs) >= 400
        assert "veth" in got["kinds"] and "bridge" in got["kinds"]
