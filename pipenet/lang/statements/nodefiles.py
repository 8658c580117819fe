"""`file PATH "TEXT"`, `file PATH from "SRC"` and `private PATH`, each `[owner USER[:GROUP]] [mode OCTAL]`.

The owner is resolved here, against this machine's users and groups, so an
unknown one is a located error before anything changes (as `chown` would
refuse it, but earlier). A `from` file is read relative to the topology
file's directory, now: its content is part of what the node is given.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat

from pipenet.fsutil import kernel_tree
from pipenet.ir import NodePath
from pipenet.lang.parser import Node
from pipenet.lang.walk import Fail, Scope, Walker, subnodes, words
from pipenet.source import Span

#: the node's files are kept in the record: a config file, not a disk image
MAX_CONTENT = 1 << 20
DEFAULT_MODE = {"file": 0o644, "private": 0o755}


def node_path(w: Walker, s: Node, sc: Scope) -> NodePath:
    what = "file" if s.data == "node_file" else "private"
    t = words(s)
    path = _path(w, w.text(t[0], sc), w.span(t[0], sc))
    spans = {"path": w.span(t[0], sc)}
    content = source = None
    if what == "file":
        tok = t[1]
        text = w.text(tok, sc)
        spans["content"] = w.span(tok, sc)
        content = text
        if any(getattr(c, "type", "") == "FROM" for c in s.children):
            source, content = _read(w, text, w.span(tok, sc))
        if len(content.encode()) > MAX_CONTENT:
            w.error(f"the content of {path} is {len(content.encode())} bytes; a node's file is at most 1 MiB",
                    w.span(tok, sc))
            raise Fail
    uid = gid = 0
    mode = DEFAULT_MODE[what]
    for part in subnodes(s):
        tok = words(part)[0]
        spans[part.data] = w.span(tok, sc)
        if part.data == "owner":
            uid, gid = _owner(w, w.text(tok, sc), w.span(tok, sc))
        else:
            mode = _mode(w, w.text(tok, sc), w.span(tok, sc))
    return NodePath(what, path, content, source, uid, gid, mode, w.node_span(s, sc), spans)


def _path(w: Walker, text: str, span: Span) -> str:
    hint = "a node's path is absolute and plain, e.g. /etc/frr/zebra.conf"
    if not text.startswith("/") or "\0" in text:
        w.error(f"`{text}` is not an absolute path", span, hint)
        raise Fail
    parts = text.split("/")[1:]
    if any(p in (".", "..") for p in parts) or "//" in text or (len(text) > 1 and text.endswith("/")):
        w.error(f"`{text}` is not a plain path (no `.`, `..`, `//` or trailing `/`)", span, hint)
        raise Fail
    tree = kernel_tree(text)  # a bind mount over the kernel's file systems would hide the node's view of itself
    if text == "/" or tree:
        whose = ("it is the whole file system" if text == "/" else f"{tree} is the kernel's"
                 if "/" + text.split("/")[1] == tree else f"on this machine it is a link into the kernel's {tree}")
        w.error(f"`{text}` cannot be given to a node: {whose}", span,
                "a node may have its own files under /etc, /var, /run, ...")
        raise Fail
    if len(text) > 1024:
        w.error("a node's path is at most 1024 characters", span)
        raise Fail
    return text


def _read(w: Walker, name: str, span: Span) -> tuple[str, str]:
    base = os.path.dirname(os.path.abspath(w.file)) if w.file and not w.file.startswith("<") else os.getcwd()
    path = os.path.join(base, name)
    try:  # (never blocking: a FIFO or a device is no configuration file, and would hang `check`)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                w.error(f"`{name}` is not a regular file", span, "a node's file comes from a file (a configuration file)")
                raise Fail
            data = f.read(MAX_CONTENT + 1)
    except OSError as e:
        w.error(f"cannot read `{name}`: {e.strerror}", span, f"`from` is relative to the topology's directory ({base})")
        raise Fail from None
    try:
        return path, data.decode()
    except UnicodeDecodeError:
        w.error(f"`{name}` is not UTF-8 text", span, "a node's file is text (a configuration file)")
        raise Fail from None


def _owner(w: Walker, text: str, span: Span) -> tuple[int, int]:
    user, _, group = text.partition(":")
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        uid, gid = entry.pw_uid, entry.pw_gid
    except (KeyError, OverflowError):
        if not user.isdigit():
            w.error(f"no user `{user}` on this machine", span, "owner USER[:GROUP], a name or a number")
            raise Fail from None
        uid = gid = int(user)
    if group:
        try:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        except KeyError:
            w.error(f"no group `{group}` on this machine", span, "owner USER[:GROUP], a name or a number")
            raise Fail from None
    if uid > 2**32 - 2 or gid > 2**32 - 2:
        w.error(f"`{text}` is not a user id", span)
        raise Fail
    return uid, gid


def _mode(w: Walker, text: str, span: Span) -> int:
    if not (1 <= len(text) <= 5 and all(c in "01234567" for c in text)):
        w.error(f"`{text}` is not an octal mode", span, "e.g. mode 0644 or mode 0755")
        raise Fail
    mode = int(text, 8)
    if mode > 0o7777:
        w.error(f"`{text}` is not a mode (at most 7777)", span)
        raise Fail
    return mode
