"""Private namespaces for kernel tests: each test world is a lived-in machine.

`Netns` starts a holder (`pipenet.sandbox.holder`): a process with its own
network, mount and UTS namespaces, a tmpfs /run and a private /etc layer, so
/run/netns, /run/pipenet and /etc/netns inside are the test's own. Commands
run inside it through nsenter; when the test ends the holder ends and the
kernel removes everything in it. Nothing a kernel test does can reach the
machine's own network.

A fresh world is not an empty one: pipenet runs on machines other tools
already use, so every world (that of every kernel test, and the one a sandbox
test starts its sandboxes in) first gets what such a machine has, made by a
handful of commands run inside it (argv lists, no shell; `LIVED_IN`):

- another tool's namespace: `ip netns add othertool`, and its root-owned
  configuration in /etc/netns (`/etc/netns/othertool/resolv.conf` and
  `hosts`, as `ip netns exec` expects them);
- a foreign bridge with an address, `br-foreign` (192.168.77.1/24, up);
- Docker's iptables chains as Docker installs them, in the filter and nat
  tables: DOCKER, DOCKER-USER, DOCKER-ISOLATION-STAGE-1/2, the jumps from
  FORWARD, PREROUTING and OUTPUT, a published port and the MASQUERADE of
  a `docker_gwbridge` (172.29.0.0/16; that bridge exists too);
- and the ip6tables filter chains Docker makes with `--ip6tables` (IPv6
  firewalling), with the same jumps from FORWARD.

The subnets (192.168.77.0/24, 172.29.0.0/16) and names are used by no
example or test topology. Snapshots ("exactly as before") include all of
it, so a test that brings a topology up and down also proves that pipenet
left the foreign objects alone; tests/test_harness.py checks they are there
and intact.
"""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The other tool's namespace, and its files in /etc/netns/othertool/.
FOREIGN_NETNS = "othertool"
FOREIGN_ETC = {
    "resolv.conf": "# written by othertool\nnameserver 192.168.77.53\nsearch othertool.internal\n",
    "hosts": "127.0.0.1\tlocalhost\n192.168.77.10\tothertool.internal othertool\n",
}
#: The foreign bridges and their addresses.
FOREIGN_BRIDGES = {"br-foreign": "192.168.77.1/24", "docker_gwbridge": "172.29.0.1/16"}

# No bridge has a port or an IPv6 link-local address: nothing of the lived-in world changes by itself
# once it is made (a port's carrier reaches its bridge through linkwatch, up to a second later, and
# DAD finishes a second later too), so a snapshot taken at once compares with one taken later.
_IP_BATCH = "".join([
    f"netns add {FOREIGN_NETNS}\n",
    *(f"link add name {br} type bridge\nlink set {br} addrgenmode none\naddr add {addr} dev {br}\n"
      f"link set {br} up\n" for br, addr in FOREIGN_BRIDGES.items()),
])

#: Docker's rules for one user-defined network with a published port (5432 of 172.29.0.2 on 15432).
DOCKER_RULES = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker_gwbridge -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker_gwbridge -j DOCKER
-A FORWARD -i docker_gwbridge ! -o docker_gwbridge -j ACCEPT
-A FORWARD -i docker_gwbridge -o docker_gwbridge -j DROP
-A DOCKER -d 172.29.0.2/32 ! -i docker_gwbridge -o docker_gwbridge -p tcp -m tcp --dport 5432 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker_gwbridge ! -o docker_gwbridge -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker_gwbridge -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.29.0.0/16 ! -o docker_gwbridge -j MASQUERADE
-A POSTROUTING -s 172.29.0.2/32 -d 172.29.0.2/32 -p tcp -m tcp --dport 5432 -j MASQUERADE
-A DOCKER -i docker_gwbridge -j RETURN
-A DOCKER ! -i docker_gwbridge -p tcp -m tcp --dport 15432 -j DNAT --to-destination 172.29.0.2:5432
COMMIT
"""

#: Docker's ip6tables filter chains (`dockerd --ip6tables`): its IPv4 filter table without the rule that
#: names an IPv4 address (the chains and the jumps from FORWARD are the same).
DOCKER6_RULES = "".join(f"{line}\n" for line in DOCKER_RULES.split("*nat")[0].splitlines() if "172.29." not in line)

#: What `Netns` runs in every fresh world: (argv, stdin).
LIVED_IN: list[tuple[list[str], str | None]] = [
    (["ip", "-batch", "-"], _IP_BATCH),
    (["iptables-restore"], DOCKER_RULES),
    (["ip6tables-restore"], DOCKER6_RULES),
    *((["install", "-D", "-m", "0644", "/dev/stdin", f"/etc/netns/{FOREIGN_NETNS}/{name}"], text)
      for name, text in FOREIGN_ETC.items()),
]


class Netns:
    def __init__(self, user: bool = False):
        argv = [sys.executable, "-m", "pipenet.sandbox.holder", "--stdin"] + (["--user"] if user else [])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"holder failed to start: {' '.join(line)}")
        self.pid = int(line[1])
        self.workdir = line[2] if len(line) > 2 else None
        try:
            for cmd, text in LIVED_IN:  # every world is a lived-in one (see the module's docstring)
                self.run(cmd, input=text)
        except BaseException:
            self.close()
            raise

    def argv(self, argv: list[str]) -> list[str]:
        return ["nsenter", f"--target={self.pid}", "--net", "--mount", "--uts", "--", *argv]

    def run(self, argv: list[str], check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        res = subprocess.run(self.argv(argv), capture_output=True, text=True, timeout=timeout, **kw)
        if check and res.returncode != 0:
            raise AssertionError(f"{argv} exited {res.returncode}\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}")
        return res

    def out(self, argv: list[str]) -> str:
        return self.run(argv).stdout

    def pipenet(self, *args: str, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.run([sys.executable, "-m", "pipenet", *args], check=check, timeout=timeout)

    def faultrun(self, *args: str, timeout: float = 300, **faults) -> subprocess.CompletedProcess:
        """Run pipenet with a fault installed (tests/faultrun.py): fail_step=N, fail_undo=N, kill_step=N,
        kill_nth=K, enospc_nth=K, count=FILE."""
        opts = []
        for name, value in faults.items():
            opts += [f"--{name.replace('_', '-')}", str(value)]
        env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        return self.run([sys.executable, "-m", "tests.faultrun", *opts, "--", *args], check=False, timeout=timeout,
                        env=env)

    def runner(self, argv: list[str]) -> str:
        return self.run(argv, check=False).stdout

    def _net_inode(self, pid: int | str) -> int | None:
        try:
            return os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            return None

    def _net_inodes(self) -> set[int]:
        """This holder's network namespace and every namespace made inside it (under its /run/netns)."""
        inodes = {self._net_inode(self.pid)}
        run_netns = f"/proc/{self.pid}/root/run/netns"
        try:
            names = os.listdir(run_netns)
        except OSError:
            names = []
        for name in names:
            try:
                inodes.add(os.stat(os.path.join(run_netns, name)).st_ino)
            except OSError:
                pass
        inodes.discard(None)
        return inodes

    def pids(self, pattern: str = "") -> list[int]:
        """Processes living in this private network namespace or a namespace made inside it (the
        holder aside) whose command line contains `pattern`. (The holder has no PID namespace of its
        own, so a plain pgrep would also see processes of other tests' namespaces.)"""
        mine = self._net_inodes()
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == self.pid or self._net_inode(d) not in mine:
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if pattern in cmd:
                out.append(int(d))
        return sorted(out)

    def close(self) -> None:
        """End the holder, and first every process still running in its namespace (a `run` process of
        a topology a failed test left up), so nothing of a test outlives it."""
        if self.proc.poll() is None:
            import signal
            import time

            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 10
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.workdir:
            from pipenet.fsutil import remove_tree

            remove_tree(self.workdir)
