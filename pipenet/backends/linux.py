"""Thin ctypes wrappers for the Linux calls Python 3.11 does not expose: setns, unshare, mount.

Namespaces are entered in-process (a thread calls setns), never through a
forked helper, so per-namespace work costs microseconds, not the 6-10 ms of
a fork+exec.
"""

from __future__ import annotations

import ctypes
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_FS = 0x00000200

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MNT_DETACH = 2

def _load_libc() -> ctypes.CDLL:
    """glibc by its soname first: `ctypes.util.find_library` runs `ldconfig -p` (milliseconds, every
    command), needed only where libc has another name (musl)."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        from ctypes import util

        return ctypes.CDLL(util.find_library("c"), use_errno=True)


_libc = _load_libc()
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
FALLOC_FL_KEEP_SIZE = 1
PR_SET_PDEATHSIG = 1


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount {target}")


def sethostname(name: str) -> None:
    b = name.encode()
    _check(_libc.sethostname(b, len(b)), "sethostname")


def fallocate(fd: int, size: int, keep_size: bool = False) -> None:
    """Reserve `size` bytes of disk for a file (ENOSPC now rather than halfway through a run). With
    `keep_size` the file's length stays as it is and later appends use the reserved blocks. A file
    system that cannot reserve (EOPNOTSUPP) is let be."""
    ret = _libc.fallocate(fd, FALLOC_FL_KEEP_SIZE if keep_size else 0, 0, size)
    if ret != 0:
        err = ctypes.get_errno()
        if err in (95, 38):  # EOPNOTSUPP, ENOSYS
            return
        raise OSError(err, f"reserve {size} bytes: {os.strerror(err)}")


def die_with_parent(sig: int = 9) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (a probe dies with `test`)."""
    _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
