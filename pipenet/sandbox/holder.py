"""A holder: a small process that owns a fresh set of namespaces and keeps them alive.

Run as `python -m pipenet.sandbox.holder [--user] [--state DIR]`. It unshares
a network, mount and UTS namespace (and a user namespace with `--user`,
mapping the caller to root inside, so it works without privileges), makes
every mount private, mounts a tmpfs on /run (so /run/netns and /run/pipenet
are its own) and an overlay on /etc whose upper layer is private (so the
machine's /etc is never written). /etc/netns is its own as well:

- a sandbox (`--daemon`) gets an empty /etc/netns of its own, a directory of
  its private layer bind-mounted there once the overlay is mounted. The
  machine's /etc/netns (root-owned where `ip netns` or a root pipenet has
  used it, and holding other tools' files) is hidden, never written, and no
  obstacle to a user namespace, which could not write it;
- a test world (`--stdin`) gets a private /etc/netns with no mount on it (a
  user namespace started inside it, for a sandbox of `nobody`, may stack an
  overlay on its /etc only when nothing is mounted below): an opaque
  directory of the upper layer, so it starts empty whatever the machine has,
  and belongs to the world's root.

Then it writes its pid and "ready" on stdout and sleeps until it is told to
end (SIGTERM, or its stdin closing when started with `--stdin`).

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


def enter_private(user: bool, workdir: str, etc_netns: str = "mount") -> None:
    """Unshare and set up the private mounts in the calling (single-threaded) process.

    etc_netns: "mount" (a sandbox: a private directory bind-mounted on /etc/netns) or "opaque" (a
    test world: an opaque directory of the upper layer, no mount below /etc)."""
    uid, gid = os.getuid(), os.getgid()
    flags = linux.CLONE_NEWNET | linux.CLONE_NEWNS | linux.CLONE_NEWUTS
    if user:
        linux.unshare(linux.CLONE_NEWUSER)
        _write_map("/proc/self/setgroups", "deny")
        _write_map("/proc/self/uid_map", f"0 {uid} 1")
        _write_map("/proc/self/gid_map", f"0 {gid} 1")
    linux.unshare(flags)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    # /etc: an overlay whose upper layer is a private tmpfs, so writes are fast and nothing of it
    # outlives the sandbox. (No submount on /etc before the overlay: unprivileged overlayfs refuses
    # a lower directory that carries one.)
    linux.mount("tmpfs", workdir, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=0700")
    upper, work = os.path.join(workdir, "etc-upper"), os.path.join(workdir, "etc-work")
    os.makedirs(upper, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    # /etc/netns made in the upper layer before the overlay is mounted: a directory whatever the
    # machine has there (a root-owned directory, a file, a symlink, nothing), owned by this holder's
    # root (a merged directory takes the upper one's owner), so no write ever reaches the lower one.
    # Mode 0755 whatever the umask, as `ip netns` makes it.
    os.mkdir(os.path.join(upper, "netns"))
    os.chmod(os.path.join(upper, "netns"), 0o755)
    if etc_netns == "opaque":
        _make_opaque(os.path.join(upper, "netns"))
    linux.mount("overlay", "/etc", "overlay", 0, f"lowerdir=/etc,upperdir={upper},workdir={work}")
    if etc_netns == "mount":
        own = os.path.join(workdir, "etc-netns")
        os.mkdir(own)
        os.chmod(own, 0o755)
        linux.mount(own, "/etc/netns", None, linux.MS_BIND)
    # /run: a fresh tmpfs (its own /run/netns, /run/pipenet, xtables lock).
    linux.mount("tmpfs", "/run", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "mode=0755")
    for d, mode in (("/run/netns", 0o755), ("/run/pipenet", 0o700), ("/run/lock", 0o755)):
        os.makedirs(d, mode=mode, exist_ok=True)  # (pipenet's state is private, as on a machine)
    linux.sethostname("pipenet-sandbox")
    # lo up, as in any fresh namespace a person would expect
    try:
        from pipenet.backends.netlink import Netlink

        nl = Netlink.open_here()
        try:
            nl.link_set("lo", up=True)
        finally:
            nl.close()
    except Exception:
        pass


def _make_opaque(path: str) -> None:
    """Mark an upper-layer directory opaque: the overlay shows none of the lower directory's entries.
    Only root of the machine may set a trusted.* attribute; in a user namespace the directory stays
    a merged one (the machine's entries show through, read-only; new ones land in the upper layer)."""
    try:
        os.setxattr(path, "trusted.overlay.opaque", b"y")
    except OSError:
        pass


def reap_forever(workdir: str, own_workdir: bool) -> None:
    """PID 1 of the sandbox: reap orphans until told to stop; then everything in the sandbox ends."""
    def stop(*_):
        os._exit(0)  # the private /etc layer is removed from outside, once the overlay is gone

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            signal.pause()
        except InterruptedError:
            pass


def _refuse(e: OSError, workdir: str | None) -> int:
    """Setup failed: say why and leave nothing behind (the temporary directory it made, with the
    tmpfs this process may already have mounted on it in its private mount namespace)."""
    if workdir is not None:
        try:
            linux.umount(workdir, linux.MNT_DETACH)
        except OSError:
            pass
        shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.write(f"error {e}\n")
    sys.stdout.flush()
    return 1


def daemon(user: bool, workdir: str | None) -> int:
    """Start a detached holder that is PID 1 of a new PID namespace; print `ready PID WORKDIR`."""
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="pipenet-sandbox-")
    try:
        enter_private(user, workdir, "mount")
        linux.unshare(linux.CLONE_NEWPID)
    except OSError as e:
        return _refuse(e, workdir if own else None)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # PID 1 of the sandbox
        os.close(r)
        os.close(w)
        # a /proc of the sandbox's own PID namespace, so pids inside agree with /proc inside
        linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        reap_forever(workdir, own)
        os._exit(0)
    os.close(r)
    os.close(w)
    sys.stdout.write(f"ready {pid} {workdir}\n")
    sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="pipenet-holder")
    ap.add_argument("--user", action="store_true", help="also unshare a user namespace (unprivileged)")
    ap.add_argument("--workdir", default=None, help="where the private /etc layer lives")
    ap.add_argument("--stdin", action="store_true", help="end when stdin closes")
    ap.add_argument("--daemon", action="store_true", help="detach: PID 1 of a new PID namespace")
    args = ap.parse_args(argv)
    if args.daemon:
        return daemon(args.user, args.workdir)
    own = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix="pipenet-holder-")
    try:
        enter_private(args.user, workdir, "opaque")
    except OSError as e:
        return _refuse(e, workdir if own else None)
    sys.stdout.write(f"ready {os.getpid()} {workdir}\n")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
