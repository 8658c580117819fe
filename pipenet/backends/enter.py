"""Become a process inside a node: its network namespace, its hostname, its /etc files.

The calling process (single-threaded: `pipenet exec` before it execs, or a
freshly forked child) joins the node's network namespace, unshares a UTS and
a mount namespace of its own, sets the node's hostname, makes every mount
private and bind-mounts each file of /etc/netns/NAMESPACE/ over the same file
in /etc, the convention `ip netns exec` follows. Then it bind-mounts the
node's own files and private directories (`file`, `private`: kept under
pipenet's state directory, see `pipenet.backends.nodefiles`) over their
paths, outermost first. The host's own /etc, paths and hostname are never
changed: the bind mounts exist only in this process's mount namespace.
"""

from __future__ import annotations

import os

from pipenet.backends import linux
from pipenet.fsutil import kernel_tree


def etc_dir(ns: str) -> str | None:
    if not ns or ns.startswith("/"):
        return None
    return os.path.join("/etc/netns", ns)


def enter(ns_path: str | None, hostname: str | None, etc: str | None, binds=()) -> None:
    """Join `ns_path` (None: stay) and give this process `hostname`, the files in `etc` and each
    (source, target) of `binds` mounted over its target."""
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
    for source, target in binds:
        bind(source, target)
    # /sys shows the namespace's own interfaces, as `ip netns exec` arranges
    if ns_path:
        try:
            linux.umount("/sys", linux.MNT_DETACH)
            linux.mount("sysfs", "/sys", "sysfs", 0)
        except OSError:
            pass


def bind(source: str, target: str) -> None:
    """Mount `source` over `target`, which must already be there as the same kind (a file over a file,
    a directory over a directory): a mount point is never made, since making one would write the
    host's file system. Nor is a target that is (or, through links made since `check`, leads into) one of
    the kernel's file systems: the mount would land there."""
    if kernel_tree(target):
        raise OSError(1, f"cannot put the node's {target}: it leads into the kernel's {kernel_tree(target)} "
                         f"({os.path.realpath(target)})")
    if os.path.isdir(source) != os.path.isdir(target) or not os.path.exists(target):
        raise OSError(2, f"cannot put the node's {target}: there is no "
                         f"{'directory' if os.path.isdir(source) else 'file'} at {target} to mount it on")
    linux.mount(source, target, None, linux.MS_BIND)


def exec_in(ns_path: str | None, hostname: str | None, etc: str | None, argv: list[str], env: dict | None = None,
            binds=()):
    enter(ns_path, hostname, etc, binds)
    os.execvpe(argv[0], argv, env if env is not None else os.environ)
