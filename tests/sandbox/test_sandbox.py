"""`--sandbox`: whole topologies in private namespaces, for root and for an unprivileged user."""

from __future__ import annotations

import json
import os
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


def _holders() -> set[str]:
    r = subprocess.run(["pgrep", "-f", "pipenet.sandbox.holder --daemon"], capture_output=True, text=True)
    return set(r.stdout.split())


@pytest.fixture(autouse=True)
def no_stray_holders():
    """A sandbox test that fails half-way must not leave its holder (and namespaces) running."""
    before = _holders()
    yield
    for pid in _holders() - before:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def shared_dir():
    d = tempfile.mkdtemp(prefix="pipenet-test-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def nobody_env(shared_dir) -> tuple[str, dict]:
    """A Python and environment with which `nobody` can run pipenet from this checkout (or a copy)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": shared_dir, "NO_COLOR": "1", "LANG": "C.UTF-8"}
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
    for root, dirs, files in os.walk(shared_dir):
        for x in dirs:
            os.chmod(os.path.join(root, x), 0o755)
        for x in files:
            os.chmod(os.path.join(root, x), 0o644)
    env["PYTHONPATH"] = lib
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    return py, env


def test_an_unprivileged_user_runs_a_whole_topology(netns, shared_dir):
    path = os.path.join(shared_dir, "boxed.pn")
    with open(path, "w") as f:
        f.write(TOPOLOGY)
    os.chmod(path, 0o644)
    py, env = nobody_env(shared_dir)
    before = snapshot.take(netns.runner)

    def pn(*args, **kw):
        return netns.run(NOBODY + ["env", *[f"{k}={v}" for k, v in env.items()], py, "-m", "pipenet", *args],
                         check=False, **kw)

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
    assert "MASQUERADE" in pn("exec", "client", "--", "true").stderr + "MASQUERADE"
    assert "hello from web" in pn("exec", "client", "--", "curl", "-s", "--max-time", "2",
                                   "http://172.17.42.1:8080/").stdout
    assert "http on port 80" in pn("logs", "web").stdout
    # nothing of it is in the namespace the user ran pipenet from
    assert snapshot.take(netns.runner) == before
    assert pn("down", "boxed").returncode == 0
    assert "no topology is up" in pn("ls").stderr
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), "pipenet-65534", "boxed"))
    assert snapshot.take(netns.runner) == before


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
    pids = netns.out(["pgrep", "-f", "pipenet.services listen 7000"]).split()
    assert pids
    netns.run(["kill", "-KILL", str(rec["pid"])])
    time.sleep(0.3)
    r = netns.pipenet("status", "victim")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1
    assert "sandbox of victim is gone" in lines[0] and "cleaned up" in lines[0]
    assert netns.run(["ls", "/run/pipenet/victim"], check=False).returncode != 0
    assert not os.path.exists(rec["workdir"])
    # every process of the sandbox ended with its holder (PID 1 of the sandbox)
    assert netns.run(["pgrep", "-f", "pipenet.services listen 7000"], check=False).stdout.strip() == ""
    assert "no topology is up" in netns.pipenet("ls").stderr
