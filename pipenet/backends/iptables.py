"""iptables through `iptables-restore --noflush`: one process per table and namespace, atomic per table.

`install` declares the topology's chains (which creates them, or empties
them if they exist), fills them, and inserts the tagged jump rules at the top
of the built-in chains if they are not there yet; `remove` deletes exactly
those jumps and chains. The process runs in the target namespace (it
`setns`es before it execs), and never through a shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from pipenet.backends import linux


def binary() -> str | None:
    return shutil.which("iptables-restore")


def _in_ns(ns_fd: int | None, argv: list[str], text: str | None = None) -> subprocess.CompletedProcess:
    """Run argv (no shell) in the namespace `ns_fd` (None: the one pipenet runs in)."""
    enter = (lambda: linux.setns(ns_fd, linux.CLONE_NEWNET)) if ns_fd is not None else None
    return subprocess.run(argv, input=text, capture_output=True, text=True, preexec_fn=enter,
                          pass_fds=(ns_fd,) if ns_fd is not None else (), timeout=60)


def _run(ns_fd: int | None, text: str, what: str) -> None:
    exe = binary()
    if exe is None:
        raise FileNotFoundError(2, "iptables-restore is not installed (apt-get install iptables)")
    for line in text.splitlines():
        if line.startswith("*"):
            _changed(ns_fd, line[1:])
    r = _in_ns(ns_fd, [exe, "--noflush"], text)
    if r.returncode != 0:
        raise OSError(5, f"{what}: iptables-restore: {r.stderr.strip() or r.returncode}")


def _has_jump(saved: str, builtin: str, chain: str) -> bool:
    return any(line.startswith(f"-A {builtin} ") and line.endswith(f"-j {chain}") for line in saved.splitlines())


def jump_rule(builtin: str, match: str, chain: str, tag: str) -> str:
    match = f"{match} " if match else ""
    return f"{builtin} {match}-m comment --comment {tag} -j {chain}"


#: `iptables-save` output per namespace (by its nsfs identity: an fd number can be reused by another
#: namespace), with the tables changed since (read again when asked about)
_SAVED: dict[tuple | None, tuple[str, set[str]]] = {}


def _ident(ns_fd: int | None) -> tuple | None:
    if ns_fd is None:
        return None
    st = os.fstat(ns_fd)
    return (st.st_dev, st.st_ino)


def _save_all(ns_fd: int | None, table: str | None = None) -> str:
    """`iptables-save` of every existing table (unlike `-t TABLE`, it creates none), read once per
    namespace and again only when the table asked about has been restored since."""
    key = _ident(ns_fd)
    cached = _SAVED.get(key)
    if cached is not None and (table is None or table not in cached[1]):
        return cached[0]
    exe = shutil.which("iptables-save")
    out = _in_ns(ns_fd, [exe]).stdout if exe else ""
    _SAVED[key] = (out, set())
    return out


def _changed(ns_fd: int | None, table: str) -> None:
    key = _ident(ns_fd)
    if key in _SAVED:
        _SAVED[key][1].add(table)


def table_exists(ns_fd: int | None, table: str) -> bool:
    return f"*{table}" in _save_all(ns_fd, table).splitlines()


def drop_table_if_pristine(ns_fd: int | None, table: str) -> None:
    """Delete a table that only exists because pipenet used it, once it holds nothing again
    (iptables-nft creates a table on first use and never removes it)."""
    lines = _save_all(ns_fd, table).splitlines()
    if f"*{table}" not in lines:
        return
    section = lines[lines.index(f"*{table}") + 1:]
    section = section[: section.index("COMMIT")] if "COMMIT" in section else section
    builtin = {"filter": {"INPUT", "FORWARD", "OUTPUT"},
               "nat": {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"}}.get(table, set())
    for line in section:
        if line.startswith("-"):
            return  # a rule: someone else's
        if line.startswith(":"):
            name, policy = line[1:].split()[:2]
            if name not in builtin or policy != "ACCEPT":
                return
    nft = shutil.which("nft")
    if nft is None or "nf_tables" not in _version():
        return
    _changed(ns_fd, table)
    _in_ns(ns_fd, [nft, "delete", "table", "ip", table])


def _version() -> str:
    exe = shutil.which("iptables")
    if exe is None:
        return ""
    return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout


def present_jumps(ns_fd: int | None, table: str) -> str:
    """The table's section of `iptables-save` (empty when the table does not exist yet)."""
    lines = _save_all(ns_fd, table).splitlines()
    if f"*{table}" not in lines:
        return ""
    section = lines[lines.index(f"*{table}"):]
    return "\n".join(section[: section.index("COMMIT") + 1] if "COMMIT" in section else section)


def install(ns_fd: int | None, table: str, chains: dict[str, list[str]], jumps: list[tuple[str, str, str]],
            tag: str) -> None:
    """chains: {chain name: rules}; jumps: (builtin chain, match, chain) inserted once at the top."""
    saved = present_jumps(ns_fd, table)
    lines = [f"*{table}"]
    lines += [f":{name} - [0:0]" for name in chains]
    for name, rules in chains.items():
        lines += [f"-A {name} {r}" for r in rules]
    for builtin, match, chain in jumps:
        if not _has_jump(saved, builtin, chain):
            rule = jump_rule(builtin, match, chain, tag)
            lines.append(f"-I {builtin} 1 {rule.split(' ', 1)[1]}")
    lines.append("COMMIT")
    _run(ns_fd, "\n".join(lines) + "\n", f"install {table} rules")


def remove(ns_fd: int | None, table: str, chains: list[str], jumps: list[tuple[str, str, str]], tag: str) -> None:
    saved = present_jumps(ns_fd, table)
    lines = [f"*{table}"]
    for builtin, match, chain in jumps:
        if _has_jump(saved, builtin, chain):
            lines.append(f"-D {jump_rule(builtin, match, chain, tag)}")
    present = [c for c in chains if f":{c} " in saved]
    lines += [f":{c} - [0:0]" for c in present]
    lines += [f"-X {c}" for c in present]
    lines.append("COMMIT")
    if len(lines) > 2:
        _run(ns_fd, "\n".join(lines) + "\n", f"remove {table} rules")
