"""`--sandbox`: whole topologies in private namespaces, for root and for an unprivileged user."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

from tests import snapshot
from tests.conftest import RUN_MARK, pipenet_processes
from tests.harness import FOREIGN_ETC, FOREIGN_NETNS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

TOPOLOGY = textwrap.dedent("""
    topology boxed
    bridge docker0 { address 172.17.42.1/16 }
    container web {
        net docker0
        expose 80
        publish 8080:80
        run "python3 -m pipenet.services http 80"
    }
    container client { net docker0 }
    container world { run "python3 -m pipenet.services http 80" }
    p2p host:pn-wan0 203.0.113.1/30 -- world:eth0 203.0.113.2/30
    expect client can reach 203.0.113.2:80/tcp as 203.0.113.1
    expect client can reach 172.17.42.1:8080/tcp
    expect host can reach 127.0.0.1:8080/tcp
    expect world cannot reach client
""")


def _holders() -> set[int]:
    """Sandbox holders this test run started (another run's, on the same machine, are not ours)."""
    return pipenet_processes(b"pipenet.sandbox.holder --daemon")


@pytest.fixture(autouse=True)
def no_stray_holders():
    """A sandbox test that fails half-way must not leave its holder (and namespaces) running."""
    before = _holders()
    yield
    for pid in _holders() - before:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def shared_dir():
    d = tempfile.mkdtemp(prefix="pipenet-test-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def nobody_env(shared_dir) -> tuple[str, dict]:
    """A Python and environment with which `nobody` can run pipenet from this checkout (or a copy).

    Its temporary directory (TMPDIR) is the test's own, `nobody`'s and empty: the sandbox's outer
    record (no XDG_RUNTIME_DIR: TMPDIR/pipenet-65534) and private /etc layer go there, apart from
    any other run's on the machine, and the test can see that nothing is left in it."""
    tmp = os.path.join(shared_dir, "tmp")
    os.makedirs(tmp, exist_ok=True)
    os.chown(tmp, 65534, 65534)
    os.chmod(tmp, 0o700)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": shared_dir, "NO_COLOR": "1", "LANG": "C.UTF-8",
           "TMPDIR": tmp, "XDG_RUNTIME_DIR": "", RUN_MARK: os.environ[RUN_MARK]}
    py = sys.executable
    probe = subprocess.run(NOBODY + [py, "-c", "import pipenet.cli.app"], capture_output=True, env=env)
    if probe.returncode == 0:
        return py, env
    # the checkout or the virtualenv is out of reach of `nobody`: use a readable copy
    lib = os.path.join(shared_dir, "lib")
    shutil.copytree(os.path.join(REPO, "pipenet"), os.path.join(lib, "pipenet"))
    for sp in site.getsitepackages():
        for entry in os.listdir(sp):
            if entry.startswith(("pipenet", "__editable__", "_pytest", "pytest", "hypothesis")):
                continue
            src = os.path.join(sp, entry)
            dst = os.path.join(lib, entry)
            if os.path.isdir(src) and not os.path.exists(dst):
                shutil.copytree(src, dst)
            elif os.path.isfile(src) and not os.path.exists(dst):
                shutil.copy(src, dst)
    for root, dirs, files in os.walk(lib):
        for x in dirs:
            os.chmod(os.path.join(root, x), 0o755)
        for x in files:
            os.chmod(os.path.join(root, x), 0o644)
    env["PYTHONPATH"] = lib
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    return py, env


def as_nobody(netns, shared_dir):
    """pipenet run by `nobody` in the test world: pn(*args) -> CompletedProcess; and nobody's TMPDIR."""
    py, env = nobody_env(shared_dir)

    def pn(*args, extra: dict | None = None, **kw):
        e = dict(env, **(extra or {}))
        return netns.run(NOBODY + ["env", *[f"{k}={v}" for k, v in e.items()], py, "-m", "pipenet", *args],
                         check=False, **kw)

    return pn, env["TMPDIR"]


def write_topology(shared_dir, name: str, text: str) -> str:
    path = os.path.join(shared_dir, f"{name}.pn")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def test_an_unprivileged_user_runs_a_whole_topology(netns, shared_dir):
    path = write_topology(shared_dir, "boxed", TOPOLOGY)
    pn, tmp = as_nobody(netns, shared_dir)
    before = snapshot.take(netns.runner)

    # without --sandbox, one line naming both ways out
    r = pn("up", path)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "--sandbox" in r.stderr
    r = pn("up", "--sandbox", path)
    assert r.returncode == 0, r.stderr
    ls = pn("ls").stdout
    assert "boxed" in ls and "sandbox (holder" in ls
    assert "172.17.0.1/16" in pn("exec", "web", "--", "ip", "-o", "-4", "addr", "show", "eth0").stdout
    assert pn("exec", "web", "--", "hostname").stdout.strip() == "web"
    assert pn("exec", "web", "--", "sh", "-c", "exit 5").returncode == 5
    st = json.loads(pn("status", "boxed", "--json").stdout)
    assert st["up"] and st["drift"] == [] and all(p["alive"] for p in st["processes"])
    t = pn("test", path, "--json")
    doc = json.loads(t.stdout)
    assert t.returncode == 0 and doc["failed"] == 0 and doc["passed"] == 4, t.stdout
    # a NAT rule, a published port and a process really are inside
    with open(os.path.join(tmp, "pipenet-65534", "boxed", "sandbox.json")) as f:
        rec = json.load(f)
    nat = subprocess.run(["nsenter", f"--target={rec['pid']}", "--net", "--", "iptables-save", "-t", "nat"],
                         capture_output=True, text=True).stdout
    assert "-j MASQUERADE" in nat and "--dport 8080" in nat
    assert "hello from web" in pn("exec", "client", "--", "curl", "-s", "--max-time", "2",
                                   "http://172.17.42.1:8080/").stdout
    assert "http on port 80" in pn("logs", "web").stdout
    # nothing of it is in the namespace the user ran pipenet from
    assert snapshot.take(netns.runner) == before
    assert pn("down", "boxed").returncode == 0
    # root's /run/pipenet (0700) is out of nobody's reach: ls says so, and that no sandbox is up
    assert pn("ls").stderr.splitlines()[-1] == "no sandbox is up"
    assert os.listdir(tmp) == []  # neither the outer record nor the private /etc layer is left
    assert snapshot.take(netns.runner) == before


ETC_TOPOLOGY = textwrap.dedent("""
    topology etcs
    hosts auto
    bridge br0 { address 10.62.0.1/24 }
    container a { net br0 }
    container b { net br0; hostname bee }
    expect a can reach b
""")


def _world_etc_netns_is_lived_in(netns) -> None:
    """The test world has what a machine where `ip netns` or a root pipenet ran has: a root-owned
    /etc/netns with another tool's files in it."""
    assert netns.out(["stat", "-c", "%u:%g %a", "/etc/netns"]).split() == ["0:0", "755"]
    assert sorted(netns.out(["ls", "-A", f"/etc/netns/{FOREIGN_NETNS}"]).split()) == sorted(FOREIGN_ETC)


def _sandbox_etc_netns(pn_or_netns_exec) -> list[str]:
    return sorted(pn_or_netns_exec("exec", "a", "--", "ls", "-A", "/etc/netns").stdout.split())


def test_an_unprivileged_sandbox_on_a_machine_with_etc_netns(netns, shared_dir):
    """Issue 14: as `nobody`, every container topology failed with `mkdir -p /etc/netns/NS:
    Permission denied` where the machine has a root-owned /etc/netns (the sandbox's /etc overlay
    showed it, and the user namespace cannot write it). The sandbox now has an /etc/netns of its own;
    the machine's is never written."""
    _world_etc_netns_is_lived_in(netns)
    path = write_topology(shared_dir, "etcs", ETC_TOPOLOGY)
    pn, tmp = as_nobody(netns, shared_dir)
    before = snapshot.take(netns.runner)
    r = pn("test", "--sandbox", path, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["passed"] == 1, r.stderr
    # each container has its files, from the sandbox's own /etc/netns, which holds nothing else
    assert "bee" in pn("exec", "b", "--", "hostname").stdout
    assert "10.62.0.3" in pn("exec", "a", "--", "getent", "hosts", "bee").stdout
    assert _sandbox_etc_netns(pn) == ["etcs@a", "etcs@b"]
    assert snapshot.take(netns.runner) == before  # the world's /etc/netns: every file as it was
    assert pn("down", "etcs").returncode == 0
    assert snapshot.take(netns.runner) == before
    assert os.listdir(tmp) == []
    _world_etc_netns_is_lived_in(netns)


def test_a_root_sandbox_has_an_etc_netns_of_its_own(netns, shared_dir):
    """As root the machine's /etc/netns was writable through the overlay, but the sandbox saw (and
    `ip netns exec` inside it would have used) another tool's files; now it sees only its own."""
    _world_etc_netns_is_lived_in(netns)
    path = write_topology(shared_dir, "etcs", ETC_TOPOLOGY)
    before = snapshot.take(netns.runner)
    r = netns.pipenet("test", "--sandbox", path, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["passed"] == 1, r.stderr
    assert _sandbox_etc_netns(netns.pipenet) == ["etcs@a", "etcs@b"]
    assert "10.62.0.3" in netns.pipenet("exec", "a", "--", "getent", "hosts", "bee").stdout
    assert snapshot.take(netns.runner) == before
    assert netns.pipenet("down", "etcs").returncode == 0
    assert snapshot.take(netns.runner) == before


def test_down_with_sandbox_takes_the_sandbox_down_and_refuses_a_topology_up_on_the_machine(netns, shared_dir):
    """`down --sandbox` (the words a new user gave `up`): a sandboxed topology goes, by name or file; one
    of that name up on the machine itself is refused (exit 2) and left running."""
    path = write_topology(shared_dir, "etcs", ETC_TOPOLOGY)
    before = snapshot.take(netns.runner)
    assert netns.pipenet("up", path).returncode == 0  # on the (world's) machine itself
    r = netns.pipenet("down", "etcs", "--sandbox")
    assert r.returncode == 2 and "etcs is up on this machine, not in a sandbox" in r.stderr, r.stderr
    assert netns.pipenet("status", "etcs").returncode == 0  # still up, untouched
    assert netns.pipenet("down", "etcs").returncode == 0
    assert snapshot.take(netns.runner) == before
    assert netns.pipenet("up", "--sandbox", path).returncode == 0
    r = netns.pipenet("down", "--sandbox", path)
    assert r.returncode == 0 and "etcs is down" in r.stdout + r.stderr, r.stdout + r.stderr
    r = netns.pipenet("down", "etcs", "--sandbox")
    assert r.returncode == 0 and "etcs is not up" in r.stderr, r.stderr
    assert snapshot.take(netns.runner) == before


def test_the_quick_start_on_a_lived_in_machine(netns, shared_dir):
    """The README's first Quick start command, in a world with a root-owned /etc/netns (and Docker's
    rules, a foreign bridge): as root, and as an unprivileged user."""
    fopnp = os.path.join(REPO, "examples", "foundations.pn")
    expected = len(re.findall(r"^expect ", open(fopnp).read(), re.M))
    before = snapshot.take(netns.runner)
    r = netns.pipenet("test", "--sandbox", fopnp, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["passed"] == expected, r.stdout + r.stderr
    assert netns.pipenet("down", "fopnp").returncode == 0
    pn, tmp = as_nobody(netns, shared_dir)
    r = pn("test", "--sandbox", fopnp, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["passed"] == expected, r.stdout + r.stderr
    assert pn("down", "fopnp").returncode == 0
    assert os.listdir(tmp) == []
    assert snapshot.take(netns.runner) == before


def _refused(pn, path, extra) -> str:
    r = pn("up", "--sandbox", path, extra=extra)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("pipenet: "), r.stderr
    return lines[0]


def test_a_refused_sandbox_leaves_nothing_behind(netns, shared_dir):
    """Setup refused because the outer state directory is not the user's own (a symlink planted at
    $XDG_RUNTIME_DIR/pipenet, another user's TMPDIR/pipenet-65534): one line, and no holder process
    or private /etc layer is left, however many times it is tried (each try used to leave one)."""
    path = write_topology(shared_dir, "refused", "topology refused\ncontainer a { }\n")
    pn, tmp = as_nobody(netns, shared_dir)
    before = snapshot.take(netns.runner)
    holders = _holders()
    # a symlink at $XDG_RUNTIME_DIR/pipenet (to a directory of nobody's, even)
    xdg, elsewhere = os.path.join(shared_dir, "xdg"), os.path.join(shared_dir, "elsewhere")
    for d in (xdg, elsewhere):
        os.makedirs(d)
        os.chown(d, 65534, 65534)
    os.symlink(elsewhere, os.path.join(xdg, "pipenet"))
    for _ in range(2):
        assert "is not a directory" in _refused(pn, path, {"XDG_RUNTIME_DIR": xdg})
        assert _holders() == holders
        assert os.listdir(tmp) == [] and os.listdir(elsewhere) == []
    # another user's directory where nobody's would be (no XDG_RUNTIME_DIR: under TMPDIR)
    os.mkdir(os.path.join(tmp, "pipenet-65534"), 0o700)  # made by root: not nobody's
    for _ in range(2):
        assert "belongs to another user" in _refused(pn, path, {})
        assert _holders() == holders
        assert os.listdir(tmp) == ["pipenet-65534"] and os.listdir(os.path.join(tmp, "pipenet-65534")) == []
    os.rmdir(os.path.join(tmp, "pipenet-65534"))
    assert snapshot.take(netns.runner) == before


def test_a_holder_that_cannot_set_up_leaves_nothing_behind(netns, shared_dir):
    """The holder itself refused, half-way: on a machine with a mount below /etc (a container's
    bind-mounted /etc/hosts, say) unprivileged overlayfs will not take /etc as its lower layer. The
    tmpfs the holder had mounted on its private layer's directory used to keep that directory."""
    netns.run(["mount", "-t", "tmpfs", "tmpfs", f"/etc/netns/{FOREIGN_NETNS}"])  # the world's own mount namespace
    path = write_topology(shared_dir, "halfway", "topology halfway\ncontainer a { }\n")
    pn, tmp = as_nobody(netns, shared_dir)
    holders = _holders()
    for _ in range(2):
        line = _refused(pn, path, {})
        assert "cannot create the sandbox" in line and "mount /etc" in line, line
        assert _holders() == holders
        assert os.listdir(tmp) == []


def test_two_sandboxes_at_once_with_the_same_names(netns, shared_dir):
    paths = []
    for name in ("one", "two"):
        p = os.path.join(shared_dir, f"{name}.pn")
        with open(p, "w") as f:
            f.write(f"topology {name}\nbridge docker0 {{ address 172.17.42.1/16 }}\n"
                    "container web { net docker0; publish 8080:80; run \"python3 -m pipenet.services http 80\" }\n")
        paths.append(p)
    before = snapshot.take(netns.runner)
    for p in paths:
        r = netns.pipenet("up", "--sandbox", p)
        assert r.returncode == 0, r.stderr
    # the same bridge name, subnet and host port, each in its own sandbox
    for name in ("one", "two"):
        out = netns.pipenet("exec", "-t", name, "web", "--", "ip", "-o", "-4", "addr").stdout
        assert "172.17.0.1/16" in out
    amb = netns.pipenet("exec", "web", "--", "true")
    assert amb.returncode == 1 and "name one with -t" in amb.stderr
    assert snapshot.take(netns.runner) == before
    for name in ("one", "two"):
        assert netns.pipenet("down", name).returncode == 0
    assert snapshot.take(netns.runner) == before


def test_a_holder_killed_from_outside_is_reported_and_cleaned(netns, shared_dir):
    p = os.path.join(shared_dir, "victim.pn")
    with open(p, "w") as f:
        f.write("topology victim\ncontainer a { run \"python3 -m pipenet.services listen 7000\" }\n")
    assert netns.pipenet("up", "--sandbox", p).returncode == 0
    rec = json.loads(netns.out(["cat", "/run/pipenet/victim/sandbox.json"]))
    listener = b"pipenet.services listen 7000"  # this run's (another run on the machine may have one too)
    assert pipenet_processes(listener)
    netns.run(["kill", "-KILL", str(rec["pid"])])
    time.sleep(0.3)
    r = netns.pipenet("status", "victim")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1
    assert "sandbox of victim is gone" in lines[0] and "cleaned up" in lines[0]
    assert netns.run(["ls", "/run/pipenet/victim"], check=False).returncode != 0
    assert not os.path.exists(rec["workdir"])
    # every process of the sandbox ended with its holder (PID 1 of the sandbox)
    assert pipenet_processes(listener) == set()
    assert "no topology is up" in netns.pipenet("ls").stderr
