"""Several machines on one: private namespaces joined by an underlay, each with a real OpenSSH server.

Each machine is a test world of `tests.harness.Netns` (its own network,
mount and UTS namespaces, its own /run, so its own /run/netns, /run/pipenet
and /etc/netns; lived-in like every world). Machine 0 is the one pipenet
runs on (`local`); the underlay is a bridge `ul0` there (10.50.0.10/24) with
a veth to each other machine (`ul`, 10.50.0.1N/24). Every machine but the
first runs `/usr/sbin/sshd -D` on its underlay address with a host key and
an authorized key made for the test (ssh-keygen, in the test's tmp dir);
`ssh_config` is the client configuration the coordinator is given
(`PIPENET_SSH_CONFIG`): that key, no known-hosts file, root. Nothing of it
touches the machine's own network: the host guard checks that too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.harness import REPO, Netns

PIPENET = os.path.join(REPO, ".venv", "bin", "pipenet")


def underlay_ip(n: int) -> str:
    return f"10.50.0.{10 + n}"


def underlay_ip6(n: int) -> str:
    return f"2001:db8:50::{10 + n}"


class Machines:
    def __init__(self, tmp, count: int = 3, mtu: dict[int, int] | None = None, ipv6: bool = False):
        self.tmp = str(tmp)
        self.ipv6 = ipv6  # (the underlay carries IPv6 too: underlay_ip6, no duplicate address detection)
        self.worlds: list[Netns] = []
        self.sshd: dict[int, subprocess.Popen] = {}
        try:
            self._start(count, mtu or {})
        except BaseException:
            self.close()
            raise

    def _start(self, count: int, mtu: dict[int, int]) -> None:
        for _ in range(count):
            self.worlds.append(Netns())
        w0 = self.worlds[0]
        # no IPv6 link-local addresses on the underlay: nothing of it changes by itself once made (snapshots)
        w0.run(["ip", "link", "add", "ul0", "type", "bridge"])
        w0.run(["ip", "link", "set", "ul0", "addrgenmode", "none"])
        w0.run(["ip", "addr", "add", f"{underlay_ip(0)}/24", "dev", "ul0"])
        if self.ipv6:
            w0.run(["ip", "addr", "add", f"{underlay_ip6(0)}/64", "dev", "ul0", "nodad"])
        w0.run(["ip", "link", "set", "ul0", "up"])
        for n, w in enumerate(self.worlds):
            w.run(["ip", "link", "set", "lo", "up"])
            if n == 0:
                continue
            w0.run(["ip", "link", "add", f"ul{n}x", "type", "veth", "peer", "name", "ul", "netns", str(w.pid)])
            w0.run(["ip", "link", "set", f"ul{n}x", "addrgenmode", "none"])
            w.run(["ip", "link", "set", "ul", "addrgenmode", "none"])
            w0.run(["ip", "link", "set", f"ul{n}x", "master", "ul0", "up"])
            w.run(["ip", "addr", "add", f"{underlay_ip(n)}/24", "dev", "ul"])
            if self.ipv6:
                w.run(["ip", "addr", "add", f"{underlay_ip6(n)}/64", "dev", "ul", "nodad"])
            w.run(["ip", "link", "set", "ul", "up"])
            if n in mtu:
                w.run(["ip", "link", "set", "ul", "mtu", str(mtu[n])])
        for name in ("id", "hostkey"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(self.tmp, name)],
                           check=True, capture_output=True)
        os.replace(os.path.join(self.tmp, "id.pub"), os.path.join(self.tmp, "authorized_keys"))
        with open(self.ssh_config, "w") as f:
            f.write(f"Host *\n  User root\n  IdentityFile {self.tmp}/id\n  IdentitiesOnly yes\n"
                    f"  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
        for n in range(1, count):
            self.start_sshd(n)
        for n in range(1, count):
            self.wait_sshd(n)

    @property
    def ssh_config(self) -> str:
        return os.path.join(self.tmp, "ssh_config")

    def start_sshd(self, n: int) -> None:
        conf = os.path.join(self.tmp, f"sshd{n}.conf")
        with open(conf, "w") as f:
            also = f"ListenAddress {underlay_ip6(n)}\n" if self.ipv6 else ""  # (ssh over IPv6 too)
            f.write(f"ListenAddress {underlay_ip(n)}\n{also}HostKey {self.tmp}/hostkey\n"
                    f"AuthorizedKeysFile {self.tmp}/authorized_keys\nPermitRootLogin prohibit-password\n"
                    f"StrictModes no\nUsePAM no\nPidFile /run/sshd.pid\nPrintMotd no\n")
        w = self.worlds[n]
        w.run(["mkdir", "-p", "-m", "0755", "/run/sshd"])
        self.sshd[n] = subprocess.Popen(w.argv(["/usr/sbin/sshd", "-D", "-e", "-f", conf]),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_sshd(self, n: int) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = self.worlds[0].run(["ssh", "-F", self.ssh_config, "-o", "BatchMode=yes", underlay_ip(n), "true"],
                                   check=False, timeout=30)
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"sshd of machine {n} did not answer: {r.stderr}")

    def stop_sshd(self, n: int) -> None:
        p = self.sshd.pop(n)
        p.terminate()
        p.wait(timeout=10)

    def kill_sshd(self, n: int) -> None:
        """Machine n's sshd and every connection it serves killed at once (SIGKILL), as a machine that
        goes away does; the commands run through those connections are left running."""
        p = self.sshd.pop(n)
        pids, found = {p.pid}, True
        while found:  # (its descendants named sshd: the listener forks one per connection, and so on)
            found = False
            for d in os.listdir("/proc"):
                if not d.isdigit() or int(d) in pids:
                    continue
                try:
                    with open(f"/proc/{d}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                name, ppid = stat[stat.index("(") + 1:stat.rindex(")")], int(stat[stat.rindex(")") + 2:].split()[1])
                if ppid in pids and name.startswith("sshd"):
                    pids.add(int(d))
                    found = True
        for pid in pids:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        p.wait(timeout=10)

    def started(self, *args: str, out=subprocess.DEVNULL) -> subprocess.Popen:
        """`pipenet ARGS` on machine 0 with the test's ssh configuration, left running (to be killed)."""
        env = dict(os.environ, PIPENET_SSH_CONFIG=self.ssh_config)
        return subprocess.Popen(self.worlds[0].argv([sys.executable, "-m", "pipenet", *args]), env=env, stdout=out,
                                stderr=out, text=True)

    def coordinator(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """`pipenet ARGS` on machine 0, with the test's ssh configuration."""
        env = dict(os.environ, PIPENET_SSH_CONFIG=self.ssh_config)
        return self.worlds[0].run([sys.executable, "-m", "pipenet", *args], check=False, timeout=timeout, env=env)

    def close(self) -> None:
        for p in self.sshd.values():
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        for w in self.worlds:
            w.close()


def machine_lines(count: int, skip: tuple[int, ...] = (), ipv6: bool = False, ssh6: bool = False) -> str:
    """The `machine` statements of a topology on these machines (machine 0 is `local`); `ipv6`: tunnels
    over the IPv6 underlay (ssh still over IPv4, unless `ssh6`: ssh to the IPv6 addresses too)."""
    lines = [f"machine local {{ underlay {underlay_ip6(0) if ipv6 else underlay_ip(0)} }}"]
    for n in range(1, count):
        if n not in skip:
            under = f"; underlay {underlay_ip6(n)}" if ipv6 else ""
            dest = underlay_ip6(n) if ssh6 else underlay_ip(n)
            lines.append(f'machine m{n} {{ ssh root@{dest}{under}; pipenet "{PIPENET}" }}')
    return "\n".join(lines) + "\n"
