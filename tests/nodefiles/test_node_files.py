"""A node's own files and private directories (`file`, `private`), on the real kernel: what `exec` and `run`
processes see, what the host keeps seeing, owners and modes, an edited file converging, drift healed,
and `down` removing exactly what `up` made."""

from __future__ import annotations

import json
import os
import pwd
import sys
import textwrap

LAB = textwrap.dedent("""
    topology files
    container a {
        file /etc/motd "hello from a\\n" owner nobody mode 0600
        private /run/mine owner nobody:nogroup mode 0750
        file /run/mine/inside.conf "inside\\n" owner nobody
        private /run/mine/sub
        run "sh -c 'cat /etc/motd > /run/mine/seen; id -u > /run/mine/uid; exec sleep 1000'"
    }
    container b { run "sleep 1000" }
""")


def write(tmp_path, text, name="files.pn"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def sh(netns, node, script):
    return netns.pipenet("exec", node, "--", "sh", "-c", script)


def test_files_and_private_directories_are_the_nodes_own(netns, tmp_path):
    netns.run(["mkdir", "-p", "/run/mine"])  # the mount point: a directory the host has (empty)
    host_motd = netns.out(["cat", "/etc/motd"])
    path = write(tmp_path, LAB)
    r = netns.pipenet("up", path)
    assert r.returncode == 0, r.stderr
    # exec sees the node's file, with its owner and mode
    r = sh(netns, "a", "cat /etc/motd; stat -c '%U %a' /etc/motd /run/mine /run/mine/inside.conf /run/mine/sub")
    assert r.returncode == 0, r.stderr
    nobody = pwd.getpwnam("nobody")
    assert r.stdout.splitlines() == ["hello from a", "nobody 600", "nobody 750", "nobody 644", "root 755"], r.stdout
    assert sh(netns, "a", "stat -c %G /run/mine").stdout.strip() in ("nogroup", str(nobody.pw_gid))
    # the run process saw the same file, and wrote into the private directory exec sees
    seen = sh(netns, "a", "sleep 0.2; cat /run/mine/seen /run/mine/inside.conf")
    assert seen.stdout.splitlines() == ["hello from a", "inside"], (seen.stdout, seen.stderr)
    # another node, and the host, see their own
    assert sh(netns, "b", "cat /etc/motd").stdout == host_motd
    assert sh(netns, "b", "ls -A /run/mine").stdout == ""
    assert netns.out(["cat", "/etc/motd"]) == host_motd
    assert netns.out(["ls", "-A", "/run/mine"]) == ""
    # a shell sees what exec sees (its commands read from stdin here, as from a terminal)
    shell = netns.run([sys.executable, "-m", "pipenet", "shell", "a"], input="cat /etc/motd /run/mine/seen\n",
                      check=False, env=dict(os.environ, SHELL="/bin/sh"))
    assert shell.stdout.splitlines()[-2:] == ["hello from a", "hello from a"], (shell.stdout, shell.stderr)
    # nothing to change on a second up, and no drift
    again = netns.pipenet("plan", path)
    assert again.returncode == 0 and "nothing to do" in again.stdout + again.stderr, again.stderr
    status = json.loads(netns.pipenet("status", "files", "--json").stdout)
    assert status["drift"] == [], status
    assert netns.pipenet("down", "files").returncode == 0
    assert netns.out(["cat", "/etc/motd"]) == host_motd
    assert netns.out(["ls", "-A", "/run/mine"]) == ""
    assert netns.run(["test", "-e", "/run/pipenet/files"], check=False).returncode != 0


def test_an_edited_file_converges_and_restarts_the_nodes_processes(netns, tmp_path):
    netns.run(["mkdir", "-p", "/run/mine"])
    path = write(tmp_path, LAB)
    assert netns.pipenet("up", path).returncode == 0
    before = netns.pids("sleep 1000")
    assert len(before) == 2
    write(tmp_path, LAB.replace("hello from a", "hello again"))
    r = netns.pipenet("up", path)
    assert r.returncode == 0, r.stderr
    assert sh(netns, "a", "cat /etc/motd").stdout == "hello again\n"
    assert sh(netns, "a", "sleep 0.2; cat /run/mine/seen").stdout == "hello again\n"  # a's process started again
    after = netns.pids("sleep 1000")
    assert len(after) == 2 and len(set(before) & set(after)) == 1  # b's process was left alone
    # drift: the kept file changed behind pipenet's back is seen, and `up` puts it right
    kept = "/run/pipenet/files/nodes/a/etc/motd"
    netns.run(["sh", "-c", f"echo tampered > {kept}"])
    status = json.loads(netns.pipenet("status", "files", "--json").stdout)
    assert any("/etc/motd" in json.dumps(d) for d in status["drift"]), status
    assert netns.pipenet("up", path).returncode == 0
    assert sh(netns, "a", "cat /etc/motd").stdout == "hello again\n"
    netns.run(["chmod", "0777", "/run/pipenet/files/nodes/a/run/mine"])
    assert json.loads(netns.pipenet("status", "files", "--json").stdout)["drift"] != []
    assert netns.pipenet("up", path).returncode == 0
    assert sh(netns, "a", "stat -c %a /run/mine").stdout.strip() == "750"
    assert netns.pipenet("down", "files").returncode == 0
    assert netns.pids("sleep 1000") == []


def test_probes_see_the_nodes_own_files_too(netns, tmp_path):
    path = write(tmp_path, textwrap.dedent("""
        topology resolving
        container a { file /etc/hosts "127.0.0.1 localhost\\n10.1.2.3 magic.example\\n" }
        container b
        expect a resolves magic.example to 10.1.2.3
        expect b resolves localhost to 127.0.0.1
    """), "resolving.pn")
    r = netns.pipenet("test", path, "--json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert json.loads(r.stdout)["passed"] == 2
    assert "magic" in netns.pipenet("exec", "a", "--", "getent", "hosts", "magic.example").stdout
    assert netns.pipenet("exec", "b", "--", "getent", "hosts", "magic.example").returncode != 0
    assert netns.pipenet("down", "resolving").returncode == 0
