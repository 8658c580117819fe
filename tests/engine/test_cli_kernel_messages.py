"""The command line's messages on the real kernel (in the harness's private namespaces): --var through up
and down, down of a typo, located conflicts one cause a line, tools in /usr/sbin, the progress bar on a
terminal and tables off one."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap

from tests import snapshot


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def test_var_through_up_plan_and_down(netns, tmp_path):
    before = snapshot.take(netns.runner)
    path = write(tmp_path, "v.pn", """\
        topology web${ID}
        bridge br${ID} { address 10.70.0.1/24 }
        container c { net br${ID}; address 10.70.0.${N} }
    """)
    r = netns.pipenet("up", path, "--var", "ID=1", "--var", "N=5")
    assert r.returncode == 0, r.stderr
    assert "10.70.0.5/24" in netns.pipenet("exec", "c", "--", "ip", "-o", "addr", "show", "eth0").stdout
    r = netns.pipenet("up", path, "--var", "N=5", "--var", "ID=1")
    assert r.returncode == 0 and "nothing to change" in r.stderr, r.stderr
    # another value is another up: the digest of the inputs holds the values, so it is not answered from the old
    r = netns.pipenet("plan", path, "--var", "ID=1", "--var", "N=6")
    assert r.returncode == 0 and "10.70.0.6" in r.stdout, r.stdout
    r = netns.pipenet("up", path, "--var", "ID=1", "--var", "N=6")
    assert r.returncode == 0 and "nothing to change" not in r.stderr, r.stderr
    assert "10.70.0.6/24" in netns.pipenet("exec", "c", "--", "ip", "-o", "addr", "show", "eth0").stdout
    # without the values the file cannot be read, and up says which one is missing
    r = netns.pipenet("up", path)
    assert r.returncode == 1 and "unknown variable `ID`" in r.stderr and "--var ID=VALUE" in r.stderr
    # down FILE needs none of them: the record says which topology came from this file
    r = netns.pipenet("down", path)
    assert r.returncode == 0 and "web1 is down" in r.stderr, r.stderr
    assert snapshot.take(netns.runner) == before


def test_down_of_a_typo_names_what_is_up(netns, tmp_path):
    path = write(tmp_path, "t.pn", "topology fopnp\ncontainer a\n")
    assert netns.pipenet("up", path).returncode == 0
    for _ in range(2):
        r = netns.pipenet("down", "fopnpp")
        assert r.returncode == 0
        assert r.stderr.strip() == "pipenet: fopnpp is not up; nothing to do (up: fopnp; did you mean `fopnp`?)"
    assert "fopnp" in netns.pipenet("ls").stdout  # still up
    assert netns.pipenet("down", "fopnp").returncode == 0
    r = netns.pipenet("down", "fopnp")
    assert r.returncode == 0 and r.stderr.strip() == "pipenet: fopnp is not up; nothing to do (no topology is up)"


def listen(netns, port):
    proc = subprocess.Popen(netns.argv([sys.executable, "-c", "import socket,time; s=socket.socket(); "
                                        f"s.bind(('0.0.0.0', {port})); s.listen(); print('ok', flush=True); "
                                        "time.sleep(60)"]), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ok"
    return proc


def test_ports_in_use_are_located_one_cause_a_line(netns, tmp_path):
    procs = [listen(netns, 8080), listen(netns, 8081)]
    try:
        before = snapshot.take(netns.runner)
        path = write(tmp_path, "taken.pn", """\
            bridge docker0 { address 172.17.42.1/16 }
            container web {
                net docker0
                publish 8080:80
                publish 8081:81
            }
        """)
        r = netns.pipenet("up", path)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        lines = r.stderr.splitlines()
        first = f"{path}:4:13: error: host port 8080/tcp of web is already in use on the host by a program " \
                f"pipenet did not start"
        assert first in lines, r.stderr
        assert lines[lines.index(first) + 1] == " 4 |     publish 8080:80"
        assert lines[lines.index(first) + 2] == "   |             ^~~~~~~"
        assert "stop the program that listens on 8080/tcp" in lines[lines.index(first) + 3]
        assert any(line.startswith(f"{path}:5:13: error: host port 8081/tcp of web") for line in lines)
        assert lines[-1] == "2 problems; nothing was changed"
        assert not any("; host port" in line for line in lines)  # not one line joined by semicolons
        assert snapshot.take(netns.runner) == before
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_tools_in_usr_sbin_are_found_whatever_the_path(netns, tmp_path):
    path = write(tmp_path, "fw.pn", "topology fw\nbridge docker0 { address 172.18.0.1/16; icc off }\n"
                                    "container web { net docker0; publish 8090:80 }\n")
    r = netns.run(["env", "PATH=/usr/bin:/bin", sys.executable, "-m", "pipenet", "up", path], check=False)
    assert r.returncode == 0, r.stderr
    assert "not installed" not in r.stderr
    assert "pipenet-fw" in netns.out(["iptables-save"]) or "fw" in netns.out(["iptables-save"])
    assert netns.run(["env", "PATH=/usr/bin:/bin", sys.executable, "-m", "pipenet", "down", "fw"],
                     check=False).returncode == 0


def on_a_terminal(netns, argv):
    """Run argv in the namespaces with stderr on a pseudo-terminal (120 columns); its output and status."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, TERM="xterm")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(netns.argv(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                            env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the last writer closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text), proc.returncode  # without colours and cursor moves


def test_progress_bar_counts_the_real_steps_on_a_terminal_only(netns, tmp_path):
    body = "".join(f"container c{i} {{ net lan }}\n" for i in range(12))
    path = write(tmp_path, "many.pn", "topology many\nbridge lan { address 10.80.0.1/24 }\n" + body)
    steps = int(re.search(r"(\d+) steps", netns.pipenet("plan", path).stderr).group(1))
    assert steps >= 20
    out, code = on_a_terminal(netns, [sys.executable, "-m", "pipenet", "up", path])
    assert code == 0, out
    counts = {(int(a), int(b)) for a, b in re.findall(r"(\d+)/(\d+) steps", out)}
    assert counts and {b for _, b in counts} == {steps}, out  # the real total, never 10**9
    assert (steps, steps) in counts, out  # and it advances to the end
    out, code = on_a_terminal(netns, [sys.executable, "-m", "pipenet", "down", "many"])
    downs = {(int(a), int(b)) for a, b in re.findall(r"(\d+)/(\d+) steps", out)}
    assert code == 0 and len({b for _, b in downs}) == 1 and max(downs)[0] == max(downs)[1], out
    # not a terminal: no bar at all
    r = netns.pipenet("up", path)
    assert r.returncode == 0 and "steps" in r.stderr and not re.search(r"\d+/\d+ steps", r.stderr)
    assert "\x1b[?25l" not in r.stderr and "╸" not in r.stderr  # no cursor hiding, no bar
    netns.pipenet("down", "many")


def test_tables_are_whole_off_a_terminal(netns, tmp_path):
    deep = tmp_path / ("a-directory-with-a-rather-long-name-" * 2) / "and-another-one-below-it"
    deep.mkdir(parents=True)
    path = write(deep, "wide.pn", "topology wide\nbridge lan { address 10.81.0.1/24 }\n"
                                  "container web { net lan; hostname www.example.com }\n")
    assert netns.pipenet("up", path).returncode == 0
    # (pytest sets COLUMNS for its subprocesses; pipenet honours it when set, like rich)
    r = netns.run(["env", "-u", "COLUMNS", sys.executable, "-m", "pipenet", "status", "wide"], check=False)
    assert r.returncode == 0, r.stderr
    assert f"wide ({path})" in r.stdout  # the title, whole, on one line
    assert max(len(line) for line in r.stdout.splitlines()) > 80
    assert "…" not in r.stdout
    netns.pipenet("down", "wide")
