"""A topology across machines changed after `up`: by the machines under it (tests/machines.py)."""

from __future__ import annotations

from tests.multihost.test_across import SPAN


def mtus(w, ns: str | None = None) -> dict[str, int]:
    """{interface: MTU} of the bridge `lan`, its ports and the container interfaces of a machine's world."""
    argv = ["ip", "-o", "link"] if ns is None else ["ip", "netns", "exec", ns, "ip", "-o", "link"]
    out = {}
    for line in w.out(argv).splitlines():
        words = line.split()
        name = words[1].rstrip(":").split("@")[0]
        if name == "lan" or name.startswith("pnx") or " master lan " in line or name == "eth0":
            out[name] = int(words[words.index("mtu") + 1])
    return out


def test_an_underlay_mtu_changed_under_the_topology_is_repaired_by_up(three, tmp_path):
    path = tmp_path / "span.pn"
    path.write_text(SPAN)
    assert three.coordinator("up", str(path)).returncode == 0
    for n, node in ((0, "c"), (1, "a"), (2, "b")):
        assert set(mtus(three.worlds[n]).values()) == {1450}
        assert mtus(three.worlds[n], f"span@{node}") == {"eth0": 1450}
    three.worlds[2].run(["ip", "link", "set", "ul", "mtu", "1400"])  # m2's underlay shrinks; the file is the same
    r = three.coordinator("up", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    for n, node in ((0, "c"), (1, "a"), (2, "b")):  # every machine's copy, tunnel and ports: 1400 less 50
        got = mtus(three.worlds[n])
        assert set(got.values()) == {1350} and "lan" in got and any(k.startswith("pnx") for k in got), (n, got)
        assert mtus(three.worlds[n], f"span@{node}") == {"eth0": 1350}
    r = three.worlds[1].run(["ip", "netns", "exec", "span@a", "ping", "-c1", "-W2", "-M", "do", "-s", "1322",
                             "10.70.0.3"], check=False)  # a full 1350-byte packet crosses from m1 to m2
    assert r.returncode == 0, r.stdout + r.stderr
    assert three.coordinator("down", "span").returncode == 0
