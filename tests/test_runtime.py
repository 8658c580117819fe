"""Runtime control and capture on the real kernel, in the test world: `pipenet link NODE:IFACE down|up`,
`pipenet shape NODE:IFACE ... | --clear` and `pipenet capture NODE:IFACE`.

A link taken down is seen by an expectation failing (and passing again once it is up); `status` shows
each override as set at runtime, not as drift (exit 0); `up` puts the file's state back and says what it
reset; a runtime rate is measured by a timed TCP transfer between two containers; a capture file is read
back with `tcpdump -r` and holds the probe's packets. Every command is one run of `pipenet` inside the
world, as a person would type it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jsonschema
import pytest

from pipenet import schemas
from pipenet.engine.runtime import parse_shape
from pipenet.errors import UsageError
from tests.sandbox.test_sandbox import NOBODY, _holders, nobody_env, no_stray_holders, shared_dir  # noqa: F401

LAB = textwrap.dedent("""
    topology rtlab
    bridge br0 { address 10.9.0.1/24 }
    container a { net br0; route 10.77.0.0/16 via 10.9.0.1 }
    container b { net br0 }
    expect a can reach b
""")

#: a TCP sink in b (answers "ok" once a client's data has all arrived), and a sender in a that times it
SINK = textwrap.dedent("""
    import socket
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 5001)); s.listen(4)
    while True:
        c, _ = s.accept()
        while c.recv(65536):
            pass
        c.sendall(b"ok"); c.close()
""")
SEND = textwrap.dedent("""
    import socket, sys, time
    deadline = time.time() + 10
    while True:
        try:
            c = socket.create_connection(("10.9.0.3", 5001), timeout=2); break
        except OSError:
            if time.time() > deadline: raise
            time.sleep(0.1)
    c.settimeout(30)
    t0 = time.perf_counter()
    c.sendall(b"x" * int(sys.argv[1])); c.shutdown(socket.SHUT_WR)
    assert c.recv(2) == b"ok"
    print(time.perf_counter() - t0)
""")
BYTES = 250_000  # 2 Mbit: about 2 s at 1mbit, milliseconds unshaped


def _world(netns, tmp_path) -> str:
    path = tmp_path / "lab.pn"
    path.write_text(LAB)
    r = netns.pipenet("up", str(path))
    assert r.returncode == 0, r.stderr
    return str(path)


def _status(netns) -> tuple[int, dict]:
    """`status rtlab --json`: its exit status, and the document (valid by the schema it names)."""
    r = netns.pipenet("status", "rtlab", "--json")
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, schemas.load(doc["schema"]), cls=jsonschema.Draft202012Validator)
    return r.returncode, doc


def _qdisc(netns, node: str, iface: str = "eth0") -> str:
    return netns.out(["ip", "netns", "exec", f"rtlab@{node}", "tc", "qdisc", "show", "dev", iface])


def test_link_down_fails_the_expectation_is_set_at_runtime_not_drift_and_link_up_passes(netns, tmp_path):
    path = _world(netns, tmp_path)
    assert netns.pipenet("test", path).returncode == 0
    r = netns.pipenet("link", "a:eth0", "down")
    assert r.returncode == 0 and "a:eth0 is down" in r.stderr
    assert "state DOWN" in netns.out(["ip", "-n", "rtlab@a", "link", "show", "dev", "eth0"])
    r = netns.pipenet("test", path)
    assert r.returncode == 4 and "FAIL" in r.stdout
    assert "set at runtime" in r.stderr and "drift" not in r.stderr  # the cut is meant: not drift
    r = netns.pipenet("status", "rtlab")
    assert r.returncode == 0, r.stderr
    assert "set at runtime: a:eth0 link down" in r.stderr and "no drift" in r.stderr
    code, st = _status(netns)
    assert code == 0 and st["drift"] == []  # (the routes the kernel dropped with the link are not drift either)
    assert st["runtime"] == [{"node": "a", "interface": "eth0", "link": "down", "shape": None}]
    r = netns.pipenet("link", "a:eth0", "up")
    assert r.returncode == 0 and "put back route 10.77.0.0/16" in r.stderr, r.stderr
    assert "10.77.0.0/16 via 10.9.0.1" in netns.out(["ip", "-n", "rtlab@a", "route"])
    assert netns.pipenet("test", path).returncode == 0
    code, st = _status(netns)
    assert code == 0 and st["runtime"] == [] and st["drift"] == []


def test_up_puts_back_the_file_state_and_says_what_it_reset(netns, tmp_path):
    path = _world(netns, tmp_path)
    assert netns.pipenet("link", "a:eth0", "down").returncode == 0
    r = netns.pipenet("shape", "b:eth0", "rate", "1mbit")
    assert r.returncode == 0, r.stderr
    assert "tbf" in _qdisc(netns, "b")
    # `plan` shows all of what `up` will do: the link put back up, and the shaping the file has not removed
    plan = json.loads(netns.pipenet("plan", path, "--json").stdout)
    jsonschema.validate(plan, schemas.load(plan["schema"]), cls=jsonschema.Draft202012Validator)
    assert ("repair", "link:a:eth0") in {(x["action"], x["key"]) for x in plan["steps"]}
    assert [x for x in plan["steps"] if x["kind"] == "shape"] == [
        {"n": len(plan["steps"]), "action": "remove", "kind": "shape", "key": "shape:b:eth0",
         "reason": "set at runtime (`pipenet shape`); the file does not shape it",
         "commands": ["ip netns exec rtlab@b tc qdisc del dev eth0 root"]}]
    r = netns.pipenet("up", path)
    assert r.returncode == 0, r.stderr
    # and `up` counts what `plan` showed: the shaping it removed is one of its steps
    assert f"{len(plan['steps'])} steps in" in r.stderr and "shaped interfaces" in r.stderr, r.stderr
    assert "reset what was set at runtime" in r.stderr and "a:eth0 (link down)" in r.stderr
    assert "b:eth0 (shape rate 1000000bit)" in r.stderr
    assert "state UP" in netns.out(["ip", "-n", "rtlab@a", "link", "show", "dev", "eth0"])
    assert "tbf" not in _qdisc(netns, "b")
    assert "10.77.0.0/16 via 10.9.0.1" in netns.out(["ip", "-n", "rtlab@a", "route"])
    code, st = _status(netns)
    assert code == 0 and st["runtime"] == [] and st["drift"] == []
    record = json.loads(netns.out(["cat", "/run/pipenet/rtlab/record.json"]))
    assert "runtime" not in record
    assert json.loads(netns.pipenet("plan", path, "--json").stdout)["steps"] == []
    r = netns.pipenet("up", path)  # the file's state again: nothing to do, nothing reset
    assert r.returncode == 0 and "nothing to change" in r.stderr and "runtime" not in r.stderr
    assert netns.pipenet("test", path).returncode == 0
    # a runtime shape of an interface the file shapes is reset to the file's, and `down` works with one set
    path2 = tmp_path / "shaped.pn"
    path2.write_text(LAB.replace("container b { net br0 }", "container b { net br0; shape eth0 rate 10mbit }"))
    assert netns.pipenet("up", str(path2)).returncode == 0
    assert "rate 10Mbit" in _qdisc(netns, "b")
    assert netns.pipenet("shape", "b:eth0", "rate", "1mbit").returncode == 0
    assert "rate 1Mbit" in _qdisc(netns, "b")
    assert netns.pipenet("status", "rtlab").returncode == 0
    steps = json.loads(netns.pipenet("plan", str(path2), "--json").stdout)["steps"]  # the file's own shaping
    assert [(x["action"], x["key"]) for x in steps] == [("repair", "shape:b:eth0")], steps
    assert netns.pipenet("up", str(path2)).returncode == 0
    assert "rate 10Mbit" in _qdisc(netns, "b")
    assert netns.pipenet("shape", "b:eth0", "--clear").returncode == 0
    assert "tbf" not in _qdisc(netns, "b")
    code, st = _status(netns)
    assert code == 0 and st["runtime"][0]["shape"].startswith("cleared")
    assert netns.pipenet("link", "a:eth0", "down").returncode == 0
    r = netns.pipenet("down", "rtlab")
    assert r.returncode == 0, r.stderr
    assert not [n for n in netns.out(["ip", "netns", "list"]).split() if n.startswith("rtlab")]


def _transfer(netns) -> float:
    r = netns.run(["ip", "netns", "exec", "rtlab@a", sys.executable, "-c", SEND, str(BYTES)], timeout=60)
    return float(r.stdout.strip())


def test_a_runtime_rate_limits_a_bulk_transfer_and_clear_lifts_it(netns, tmp_path):
    _world(netns, tmp_path)
    sink = subprocess.Popen(netns.argv(["ip", "netns", "exec", "rtlab@b", sys.executable, "-c", SINK]))
    try:
        fast = _transfer(netns)
        r = netns.pipenet("shape", "a:eth0", "rate", "1mbit")
        assert r.returncode == 0 and "a:eth0 is shaped: rate 1000000bit" in r.stderr, r.stderr
        slow = _transfer(netns)
        mbit = BYTES * 8 / slow / 1e6
        assert 0.5 < mbit < 1.5, f"{BYTES} bytes in {slow:.2f} s: {mbit:.2f} Mbit/s at rate 1mbit"
        code, st = _status(netns)
        assert code == 0 and st["runtime"] == [{"node": "a", "interface": "eth0", "link": None,
                                                 "shape": "rate 1000000bit"}]
        r = netns.pipenet("shape", "a:eth0", "--clear")
        assert r.returncode == 0 and "a:eth0 is not shaped" in r.stderr
        assert "tbf" not in _qdisc(netns, "a")
        again = _transfer(netns)
        assert again < slow / 4 and fast < slow / 4, (fast, slow, again)
        code, st = _status(netns)
        assert code == 0 and st["runtime"] == []  # cleared on an interface the file does not shape: as the file
    finally:
        sink.kill()
        sink.wait()


def _has_netem(netns) -> bool:
    netns.run(["ip", "netns", "add", "netemprobe"])
    try:
        return netns.run(["ip", "netns", "exec", "netemprobe", "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                          "delay", "1ms"], check=False).returncode == 0
    finally:
        netns.run(["ip", "netns", "del", "netemprobe"])


def test_a_delay_is_refused_naming_netem_before_any_change(netns, tmp_path):
    _world(netns, tmp_path)
    if _has_netem(netns):
        pytest.skip("this kernel has netem (CONFIG_NET_SCH_NETEM): a delay is not refused here")
    assert netns.pipenet("shape", "a:eth0", "rate", "2mbit").returncode == 0
    before = _qdisc(netns, "a")
    record = netns.out(["cat", "/run/pipenet/rtlab/record.json"])
    r = netns.pipenet("shape", "a:eth0", "rate", "1mbit", "delay", "50ms")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "CONFIG_NET_SCH_NETEM" in r.stderr and "nothing was changed" in r.stderr
    assert _qdisc(netns, "a") == before and "rate 2Mbit" in before
    assert netns.out(["cat", "/run/pipenet/rtlab/record.json"]) == record


def test_a_delay_shapes_where_the_kernel_has_netem(netns, tmp_path):
    _world(netns, tmp_path)
    if not _has_netem(netns):
        pytest.skip("this kernel has no netem (CONFIG_NET_SCH_NETEM): a runtime delay cannot be made here")
    r = netns.pipenet("shape", "a:eth0", "delay", "100ms")
    assert r.returncode == 0, r.stderr
    ping = netns.out(["ip", "netns", "exec", "rtlab@a", "ping", "-c2", "10.9.0.3"])
    assert float(ping.rsplit("=", 1)[1].split("/")[1]) >= 90


def test_only_the_labs_own_interfaces_and_well_formed_settings_are_taken(netns, tmp_path):
    _world(netns, tmp_path)
    netns.run(["ip", "-n", "rtlab@a", "link", "add", "extra0", "type", "veth", "peer", "name", "extra1"])
    cases = [
        (["link", "a:extra0", "down"], "a:extra0 was not made by topology rtlab"),
        (["link", "a:lo", "down"], "a:lo was not made by topology rtlab"),
        (["link", "a:eth9", "down"], "a has no interface eth9 (its interfaces from rtlab: eth0)"),
        (["link", "host:br-foreign", "down"], "host:br-foreign was not made by topology rtlab"),
        (["link", "zz:eth0", "down"], "no node zz is up"),
        (["link", "a:eth0", "sideways"], "takes up or down, not `sideways`"),
        (["link", "a-eth0", "down"], "takes NODE:IFACE"),
        (["shape", "a:eth0"], "shape needs settings"),
        (["shape", "a:eth0", "rate", "fast"], "rate: expected a rate, got `fast`"),
        (["shape", "a:eth0", "speed", "1mbit"], "`speed` is not a shaping option"),
        (["shape", "a:eth0", "rate", "1mbit", "--clear"], "not both"),
        (["shape", "a:extra0", "rate", "1mbit"], "was not made by topology rtlab"),
    ]
    for argv, words in cases:
        r = netns.pipenet(*argv)
        assert r.returncode == 1 and words in r.stderr and r.stderr.count("\n") == 1, (argv, r.stderr)
    assert "br-foreign" in netns.out(["ip", "link", "show", "up"])  # the foreign bridge was not touched
    assert "tbf" not in _qdisc(netns, "a", "extra0")
    code, st = _status(netns)
    assert code == 0 and st["runtime"] == []


def test_shape_words_are_the_languages():
    assert parse_shape(["rate", "1mbit", "delay", "50ms", "jitter", "5ms", "loss", "1%"]) == {
        "rate_bps": 1_000_000, "delay_ms": 50.0, "jitter_ms": 5.0, "loss_pct": 1.0}
    for words, message in ((["rate"], "needs a value"), (["jitter", "5ms"], "needs a `delay`"),
                           (["rate", "1mbit", "rate", "2mbit"], "given twice"), (["loss", "120%"], "more than 100%")):
        with pytest.raises(UsageError, match=message):
            parse_shape(words)


# ---- capture ----------------------------------------------------------------------------------------------
def _while_pinging(netns, proc: subprocess.Popen, argv_prefix=()) -> None:
    """Ping b from a until the capture has its packets (it may start a moment after the first ping)."""
    deadline = time.time() + 20
    while proc.poll() is None and time.time() < deadline:
        netns.run([*argv_prefix, "ip", "netns", "exec", "rtlab@a", "ping", "-c1", "-W1", "10.9.0.3"], check=False)
    if proc.poll() is None:
        proc.kill()


def test_capture_writes_the_probes_packets_and_streams_pcap(netns, tmp_path):
    _world(netns, tmp_path)
    out = tmp_path / "a.pcap"
    cap = subprocess.Popen(netns.argv([sys.executable, "-m", "pipenet", "capture", "a:eth0", "-c", "4", "-w",
                                       str(out), "icmp"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _while_pinging(netns, cap)
    _, err = cap.communicate()
    assert cap.returncode == 0, err
    read = netns.run(["tcpdump", "-n", "-r", str(out)])
    lines = read.stdout.splitlines()
    assert len(lines) == 4 and all("ICMP" in line for line in lines)
    assert any("10.9.0.2 > 10.9.0.3: ICMP echo request" in line for line in lines)
    assert any("10.9.0.3 > 10.9.0.2: ICMP echo reply" in line for line in lines)
    # -w -: pcap on stdout, for `| wireshark -k -i -`
    cap = subprocess.Popen(netns.argv([sys.executable, "-m", "pipenet", "capture", "a:eth0", "-w", "-", "-c", "2",
                                       "icmp"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _while_pinging(netns, cap)
    data, err = cap.communicate()
    assert cap.returncode == 0, err
    assert data[:4] == bytes.fromhex("d4c3b2a1") and len(data) > 24 + 2 * 16  # the header, then two packets
    # without -w: tcpdump's text
    cap = subprocess.Popen(netns.argv([sys.executable, "-m", "pipenet", "capture", "a:eth0", "-c", "2", "icmp"]),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _while_pinging(netns, cap)
    text, _ = cap.communicate()
    assert "ICMP echo" in text
    # an interface the node does not have: one line, no file made
    r = netns.pipenet("capture", "a:eth7", "-w", str(tmp_path / "never.pcap"))
    assert r.returncode == 1 and r.stderr == "pipenet: a has no interface eth7 (it has: eth0, lo, any)\n"
    assert not (tmp_path / "never.pcap").exists()
    assert netns.pipenet("capture", "a:eth0", "-c", "0").returncode == 1


def test_capture_and_link_in_a_sandbox_without_root(netns, shared_dir):  # noqa: F811
    lab = Path(shared_dir, "lab.pn")
    lab.write_text(LAB)
    lab.chmod(0o644)
    py, env = nobody_env(shared_dir)
    holders = _holders()
    who = NOBODY + ["env", *[f"{k}={v}" for k, v in env.items()]]

    def pipenet(*args, **kw):
        return netns.run(who + [py, "-m", "pipenet", *args], check=False, **kw)

    r = pipenet("up", "--sandbox", str(lab))
    assert r.returncode == 0, r.stderr
    try:
        def capture(*args):
            cap = subprocess.Popen(netns.argv(who + [py, "-m", "pipenet", "capture", "a:eth0", "-c", "2", *args,
                                                     "icmp"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            deadline = time.time() + 30
            while cap.poll() is None and time.time() < deadline:
                pipenet("exec", "a", "--", "ping", "-c1", "-W1", "10.9.0.3")
            if cap.poll() is None:
                cap.kill()
            text, err = cap.communicate()
            assert cap.returncode == 0, err
            return text

        out = os.path.join(shared_dir, "tmp", "box.pcap")
        capture("-w", out)
        lines = netns.run(["tcpdump", "-n", "-r", out]).stdout.splitlines()
        assert len(lines) == 2 and all("ICMP" in line for line in lines)  # the filter held: no ARP
        assert "10.9.0.2 > 10.9.0.3: ICMP echo request" in lines[0]
        assert os.stat(out).st_uid == 65534  # written as the user who asked for it
        os.unlink(out)
        text = capture().decode().splitlines()  # tcpdump's text, as on the host
        assert len(text) == 2 and "ICMP echo request" in text[0] and "ICMP echo reply" in text[1]
        assert pipenet("link", "a:eth0", "down").returncode == 0
        r = pipenet("status", "rtlab")
        assert r.returncode == 0 and "set at runtime: a:eth0 link down" in r.stderr
        assert pipenet("exec", "a", "--", "ping", "-c1", "-W1", "10.9.0.3").returncode != 0
        assert pipenet("link", "a:eth0", "up").returncode == 0
        assert pipenet("exec", "a", "--", "ping", "-c1", "-W2", "10.9.0.3").returncode == 0
    finally:
        assert pipenet("down", "rtlab").returncode == 0
    assert _holders() == holders


DRIVER = textwrap.dedent("""
    import json, sys, threading
    import pipenet

    seen = {}
    lab = pipenet.load(sys.argv[1])
    lab.up()
    seen["down"] = lab.link("a", "eth0", up=False)
    seen["test_down"] = lab.test().ok
    seen["runtime"] = lab.status().runtime
    seen["up"] = lab.link("a", "eth0", up=True)
    seen["test_up"] = lab.test().ok
    seen["shape"] = lab.shape("b", "eth0", rate="2mbit")
    try:
        lab.shape("b", "eth0", rate="2mbit", clear=True)
    except pipenet.UsageError as e:
        seen["both"] = str(e)
    stop = threading.Event()
    def ping():
        while not stop.is_set():
            lab.exec("a", ["ping", "-c1", "-W1", "10.9.0.3"])
    t = threading.Thread(target=ping); t.start()
    try:
        r = lab.capture("a", "eth0", count=2, write="-", filter=["icmp"], timeout=20)
    finally:
        stop.set(); t.join()
    seen["pcap"] = [r.returncode, r.stdout[:4].hex(), len(r.stdout)]
    seen["reset"] = lab.up().notes
    seen["after"] = lab.status().runtime
    lab.down()
    print(json.dumps(seen))
""")


def test_the_python_api_links_shapes_and_captures(netns, tmp_path):
    path = tmp_path / "lab.pn"
    path.write_text(LAB)
    r = netns.run([sys.executable, "-c", DRIVER, str(path)], check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.splitlines()[-1])
    assert seen["down"] == ["a:eth0 is down"] and seen["test_down"] is False
    assert seen["runtime"] == [{"node": "a", "interface": "eth0", "link": "down", "shape": None}]
    assert "put back route 10.77.0.0/16 in a" in seen["up"] and seen["test_up"] is True
    assert seen["shape"] == ["b:eth0 is shaped: rate 2000000bit"] and "not both" in seen["both"]
    assert seen["pcap"][:2] == [0, "d4c3b2a1"] and seen["pcap"][2] > 24
    assert any("b:eth0 (shape rate 2000000bit)" in n for n in seen["reset"]) and seen["after"] == []
