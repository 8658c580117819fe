"""Private namespaces for kernel tests.

`Netns` starts a holder (`pipenet.sandbox.holder`): a process with its own
network, mount and UTS namespaces, a tmpfs /run and a private /etc layer, so
/run/netns, /run/pipenet and /etc/netns inside are the test's own. Commands
run inside it through nsenter; when the test ends the holder ends and the
kernel removes everything in it. Nothing a kernel test does can reach the
machine's own network.
"""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Netns:
    def __init__(self, user: bool = False):
        argv = [sys.executable, "-m", "pipenet.sandbox.holder", "--stdin"] + (["--user"] if user else [])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            self.proc.kill()
            raise RuntimeError(f"holder failed to start: {' '.join(line)}")
        self.pid = int(line[1])
        self.workdir = line[2] if len(line) > 2 else None

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
