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

    def runner(self, argv: list[str]) -> str:
        return self.run(argv, check=False).stdout

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.workdir:
            from pipenet.fsutil import remove_tree

            remove_tree(self.workdir)
