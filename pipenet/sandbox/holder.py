"""A holder: a small process that owns a fresh set of namespaces and keeps them alive.

Run as `python -m pipenet.sandbox.holder [--user] [--state DIR]`. It unshares
a network, mount and UTS namespace (and a user namespace with `--user`,
mapping the caller to root inside, so it works without privileges), makes
every mount private, mounts a tmpfs on /run (so /run/netns and /run/pipenet
are its own) and an overlay on /etc whose upper layer is private (so
/etc/netns is its own and the machine's /etc is never written). Then it
writes its pid and "ready" on stdout and sleeps until it is told to end
(SIGTERM, or its stdin closing when started with `--stdin`).

Other processes join it with setns (or nsenter) on /proc/PID/ns/*; when the
holder ends, the namespaces and everything in them go away with it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile

from pipenet.backends import linux


def _write_map(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def enter_private(user: bool, workdir: str) -> None:
    """Unshare and set up the private mounts in the calling (single-threaded) process."""
    uid, gid = os.getuid(), os.getgid()
    flags = linux.CLONE_NEWNET | linux.CLONE_NEWNS | linux.CLONE_NEWUTS
    if user:
        linux.unshare(linux.CLONE_NEWUSER)
        _write_map("/proc/self/setgroups", "deny")
        _write_map("/proc/self/uid_map", f"0 {uid} 1")
        _write_map("/proc/self/gid_map", f"0 {gid} 1")
    linux.unshare(flags)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    # /etc: an overlay whose writes land in workdir, so /etc/netns is private.
    upper, work = os.path.join(workdir, "etc-upper"), os.path.join(workdir, "etc-work")
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    linux.mount("overlay", "/etc", "overlay", 0, f"lowerdir=/etc,upperdir={upper},workdir={work}")
    # /run: a fresh tmpfs (its own /run/netns, /run/pipenet, xtables lock).
    linux.mount("tmpfs", "/run", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=0755")
    for d in ("/run/netns", "/run/pipenet", "/run/lock"):
        os.makedirs(d, exist_ok=True)
    linux.sethostname("pipenet-sandbox")
    # lo up, as in any fresh namespace a person would expect
    try:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            idx = ipr.link_lookup(ifname="lo")
            if idx:
                ipr.link("set", index=idx[0], state="up")
    except Exception:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pipenet-holder")
    ap.add_argument("--user", action="store_true", help="also unshare a user namespace (unprivileged)")
    ap.add_argument("--workdir", default=None, help="where the private /etc layer lives")
    ap.add_argument("--stdin", action="store_true", help="end when stdin closes")
    args = ap.parse_args(argv)
    own_workdir = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix="pipenet-holder-")
    try:
        enter_private(args.user, workdir)
    except OSError as e:
        sys.stdout.write(f"error {e}\n")
        sys.stdout.flush()
        return 1
    sys.stdout.write(f"ready {os.getpid()}\n")
    sys.stdout.flush()
    stop = lambda *_: (_ for _ in ()).throw(SystemExit(0))  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        if args.stdin:
            sys.stdin.read()
        else:
            while True:
                signal.pause()
    except SystemExit:
        pass
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
