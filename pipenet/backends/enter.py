"""Become a process inside a node: its network namespace, its hostname, its /etc files.

The calling process (single-threaded: `pipenet exec` before it execs, or a
freshly forked child) joins the node's network namespace, unshares a UTS and
a mount namespace of its own, sets the node's hostname, makes every mount
private and bind-mounts each file of /etc/netns/NAMESPACE/ over the same file
in /etc, the convention `ip netns exec` follows. The host's own /etc and
hostname are never changed: the bind mounts exist only in this process's
mount namespace.
"""

from __future__ import annotations

import os

from pipenet.backends import linux


def etc_dir(ns: str) -> str | None:
    if not ns or ns.startswith("/"):
        return None
    return os.path.join("/etc/netns", ns)


def enter(ns_path: str | None, hostname: str | None, etc: str | None) -> None:
    """Join `ns_path` (None: stay) and give this process `hostname` and the files in `etc`."""
    if ns_path:
        fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            linux.setns(fd, linux.CLONE_NEWNET)
        finally:
            os.close(fd)
    linux.unshare(linux.CLONE_NEWUTS | linux.CLONE_NEWNS)
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    if hostname:
        linux.sethostname(hostname)
    if etc and os.path.isdir(etc):
        for name in sorted(os.listdir(etc)):
            src = os.path.join(etc, name)
            dst = os.path.join("/etc", name)
            if os.path.isfile(src) and not os.path.islink(src) and os.path.exists(dst):
                linux.mount(src, dst, None, linux.MS_BIND)
    # /sys shows the namespace's own interfaces, as `ip netns exec` arranges
    if ns_path:
        try:
            linux.umount("/sys", linux.MNT_DETACH)
            linux.mount("sysfs", "/sys", "sysfs", 0)
        except OSError:
            pass


def exec_in(ns_path: str | None, hostname: str | None, etc: str | None, argv: list[str], env: dict | None = None):
    enter(ns_path, hostname, etc)
    os.execvpe(argv[0], argv, env if env is not None else os.environ)
