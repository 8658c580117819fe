"""Slicing a topology across machines, without a kernel: the language, the validation, the slices."""

from __future__ import annotations

import pytest

from pipenet.backends.ssh import Remote
from pipenet.lang import analyse
from pipenet.plan.compile import compile_topology
from pipenet.plan.slice import inner_mtus, machines_used, slice_for, spans_machines

HEAD = """topology t
machine local { underlay 10.50.0.10 }
machine m1 { ssh root@10.50.0.11 }
machine m2 { ssh admin@m2.example.net; underlay 10.50.0.12; pipenet "/opt/pipenet/.venv/bin/pipenet" }
"""
SPAN = HEAD + """bridge lan { address 10.70.0.1/24; machine m1 }
container a { machine m1; net lan }
container b { machine m2; net lan }
container c { net lan }
p2p a:eth1 10.1.1.1 -- b:eth1 10.1.1.2
expect a can reach b
expect c can reach a
"""


def load(text: str):
    topo, diags, _ = analyse(text, "t.pn")
    assert diags == [], [str(d.message) for d in diags]
    return topo


def errors(text: str) -> list[tuple[int, int, str, str | None]]:
    _, diags, _ = analyse(text, "t.pn")
    return [(d.span.line, d.span.column, d.message, d.hint) for d in diags]


def test_the_machines_and_where_each_node_lives():
    t = load(SPAN)
    assert [(m.name, m.ssh, str(m.underlay), m.pipenet) for m in t.machines] == [
        ("local", None, "10.50.0.10", None), ("m1", "root@10.50.0.11", "None", None),
        ("m2", "admin@m2.example.net", "10.50.0.12", "/opt/pipenet/.venv/bin/pipenet")]
    assert [(c.name, c.machine) for c in t.containers] == [("a", "m1"), ("b", "m2"), ("c", None)]
    assert spans_machines(t) and machines_used(t) == ["local", "m1", "m2"]
    assert not spans_machines(load("container a\n"))


def test_each_slice_has_its_nodes_and_one_tunnel_per_spanning_segment():
    t = load(SPAN)
    local, m1, m2 = (slice_for(t, m) for m in ("local", "m1", "m2"))
    assert [c.name for c in local.containers] == ["c"] and [c.name for c in m2.containers] == ["b"]
    # the bridge's address and NAT on the machine it names; elsewhere a default route to it, across the tunnel
    assert [str(b.address) for b in m1.bridges if b.name == "lan"] == ["10.70.0.1/24"]
    assert [b.address for b in m2.bridges if b.name == "lan"] == [None]
    assert [(str(r.via), r.dest) for r in m2.containers[0].routes if r.dest is None] == [("10.70.0.1", None)]
    lan = {s.machine: [tn for tn in s.tunnels if tn.bridge == "lan"][0] for s in (local, m1, m2)}
    assert len({tn.vni for tn in lan.values()}) == 1  # one VNI for the segment, on every machine
    assert [str(r) for r in lan["m1"].remotes] == ["10.50.0.10", "10.50.0.12"]
    assert str(lan["m1"].local) == "10.50.0.11"
    # the p2p link between m1 and m2: a segment of its own, on those two machines only
    assert [tn.bridge for tn in local.tunnels] == ["lan"]
    wire = [tn for tn in m1.tunnels if tn.bridge != "lan"]
    assert len(wire) == 1 and [str(r) for r in wire[0].remotes] == ["10.50.0.12"]
    # an expectation is checked where its source is, aimed at the address of a node elsewhere
    assert [e.describe() for e in m1.expectations] == ["a can reach 10.70.0.3"]
    assert [e.describe() for e in local.expectations] == ["c can reach 10.70.0.2"]


def test_slices_are_the_same_every_time_and_differ_only_by_name():
    t = load(SPAN)
    assert slice_for(t, "m1") == slice_for(load(SPAN), "m1")
    other = load(SPAN.replace("topology t", "topology u"))
    assert {tn.vni for tn in slice_for(t, "m1").tunnels} != {tn.vni for tn in slice_for(other, "m1").tunnels}
    ops, _ = compile_topology(slice_for(t, "m1"))
    tunnel = [o for o in ops if o.kind == "tunnel" and o.master == "lan"][0]
    assert tunnel.options["learning"] is False and tunnel.fdb == ("10.50.0.12",)
    assert "bridge fdb append 00:00:00:00:00:00 dev" in tunnel.describe()[-1]
    # each machine's copy of a bridge has a MAC of its own (one MAC on two copies would swallow frames)
    macs = {compile_topology(slice_for(t, m))[0][1].mac for m in ("local", "m1", "m2")}
    assert len(macs) == 3


def test_the_inner_mtu_is_the_smallest_underlay_less_50_and_a_declared_one_must_fit():
    t = load(SPAN)
    mtus, diags = inner_mtus(t, {"m2": 1400})
    assert diags == [] and mtus["lan"] == 1350
    assert {b.name: b.mtu for b in slice_for(t, "local", {"m2": 1400}).bridges} == {"lan": 1350}
    t = load(SPAN.replace("machine m1 }", "machine m1; mtu 1500 }"))
    _, diags = inner_mtus(t, {"m2": 1400})
    assert [(d.span.line, d.span.column, d.message) for d in diags] == [
        (5, 52, "MTU 1500 does not fit in the tunnel between local, m1, m2: the underlay of m2 has MTU 1400, "
                "less 50 for VXLAN over IPv4")]
    assert diags[0].hint == "give mtu 1350 or less (or leave it out: pipenet then uses 1350)"


@pytest.mark.parametrize("text, expected", [
    (HEAD + "container a { machine m3 }\n", (5, 23, "machine `m3` is not declared")),
    (HEAD + "bridge lan { machine mm1 }\n", (5, 22, "machine `mm1` is not declared")),
    ("machine m1 { ssh \"-oProxyCommand=x\" }\ncontainer a { machine m1 }\n",
     (1, 18, "`-oProxyCommand=x` is not a [USER@]HOST ssh can be given")),
    ("machine m1 { ssh root@10.0.0.1; pipenet \"pipenet; rm -rf /\" }\ncontainer a { machine m1 }\n",
     (1, 41, "`pipenet; rm -rf /` is not a program path pipenet can run over ssh")),
    ("machine m1 { underlay 10.0.0.1 }\ncontainer a { machine m1 }\n",
     (1, 9, "machine m1 has no `ssh`: pipenet cannot reach it")),
    ("machine m1 { ssh root@m1.lab }\ncontainer a { machine m1 }\n",
     (1, 18, "machine m1 is reached as m1.lab, which is not an address: its tunnels need one")),
    (HEAD + "container a { machine m1 }\ncontainer b { machine m2; net container a }\n",
     (6, 41, "b shares the namespace of a, which is on machine m1")),
    (HEAD.replace("machine local { underlay 10.50.0.10 }\n", "") + "bridge lan\ncontainer a { machine m1; net lan }\n"
     "container c { net lan }\n", (4, 8, "bridge lan joins the machine pipenet runs on to m1, whose tunnels need its "
                                         "address")),
    (HEAD + "bridge lan { address auto }\ncontainer a { machine m1; net lan }\ncontainer c { net lan }\n",
     (5, 22, "bridge lan spans machines local, m1 and is `address auto`, which only one machine can decide")),
    (HEAD + "bridge lan { address 10.70.0.1/24 }\ncontainer a { machine m1; net lan; publish 8080:80 }\n",
     (6, 44, "a publishes ports on machine m1, but bridge lan's address and NAT are on local")),
])
def test_what_is_wrong_with_machines_is_located(text, expected):
    assert expected in [e[:3] for e in errors(text)], errors(text)


def test_the_command_ssh_runs_is_quoted_word_by_word(monkeypatch):
    monkeypatch.setenv("PIPENET_SSH_CONFIG", "/etc/pipenet/ssh_config")
    argv = Remote("m1", "root@10.50.0.11", "/opt/p/pipenet", "/tmp/ctl").argv(["exec", "--", "echo", "a b;c", "$X"])
    assert argv[:3] == ["ssh", "-F", "/etc/pipenet/ssh_config"]
    assert "ControlMaster=auto" in argv and "ControlPath=/tmp/ctl/%C" in argv and "BatchMode=yes" in argv
    assert argv[-3:] == ["--", "root@10.50.0.11", "/opt/p/pipenet exec -- echo 'a b;c' '$X'"]
    assert Remote("local", None, None, "").argv(["slice"])[1:] == ["-m", "pipenet", "slice"]


def test_the_graph_draws_each_machine_as_a_cluster_of_its_nodes():
    from pipenet.graph import to_dot

    dot = to_dot(load(SPAN))
    assert ('subgraph "cluster_m1" { label="machine m1 (root@10.50.0.11)"; style=dashed; color=gray50; "a"; '
            '"br:lan"; }') in dot
    assert '"cluster_m2" { label="machine m2 (admin@m2.example.net)"; style=dashed; color=gray50; "b"; }' in dot
    assert '"cluster_local" { label="machine local"; style=dashed; color=gray50; "c";' in dot
    assert "cluster" not in to_dot(load("bridge lan\ncontainer a { net lan }\n"))


def test_etc_hosts_names_the_nodes_on_other_machines():
    from pipenet.plan.etc import hosts

    t = load(SPAN.replace("container a { machine m1; net lan }", "container a { machine m1; net lan; link b as db }")
             + "hosts auto\n")
    m1 = slice_for(t, "m1")
    text = hosts(m1, m1.container_map["a"])
    assert "10.70.0.2\ta\n" in text and "10.70.0.3\tdb b\n" in text and "10.70.0.4\tc\n" in text


def test_the_underlay_probe_uses_the_tunnels_port():
    from pipenet.engine.agent import VXLAN_PORT
    from pipenet.kinds.vxlan import DEFAULT_PORT

    assert VXLAN_PORT == DEFAULT_PORT == 4789
