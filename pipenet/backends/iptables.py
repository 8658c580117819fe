"""iptables through `iptables-restore --noflush`: one process per table and namespace, atomic per table.

`install` declares the topology's chains (which creates them, or empties
them if they exist), fills them, and inserts the tagged jump rules at the top
of the built-in chains if they are not there yet, then reads the chains back
as `iptables-save` prints them (what the live check compares with later).
`remove` deletes exactly those jumps and chains, and only where every rule
carries pipenet's comment: a chain of the same name holding someone else's
rule is never flushed. With the nf_tables backend a built-in chain that
exists only because pipenet jumped from it (iptables-nft creates it on first
use) is removed again, as is a table pipenet's use created. Each process
runs in the target namespace (it `setns`es before it execs), never through
a shell.

Tables named `ip6:filter` and `ip6:nat` are ip6tables' (pipenet.plan.firewall.
table_name): the same work is done with `ip6tables-restore` and
`ip6tables-save`, and with nftables' `ip6` family.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from pipenet.backends import linux

BUILTINS = {"filter": ("INPUT", "FORWARD", "OUTPUT"), "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")}
_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def _which(name: str) -> str | None:
    """A system tool, looked for on PATH and in the sbin directories (a user's PATH often lacks them)."""
    return shutil.which(name) or shutil.which(name, path=_SBIN)


def binary() -> str | None:
    return _which("iptables-restore")


def _split(table: str) -> tuple[str, str, str]:
    """(table, tool prefix, nftables family) of a table name: `nat` is iptables', `ip6:nat` ip6tables'."""
    if table.startswith("ip6:"):
        return table[4:], "ip6tables", "ip6"
    return table, "iptables", "ip"


def _in_ns(ns_fd: int | None, argv: list[str], text: str | None = None) -> subprocess.CompletedProcess:
    """Run argv (no shell) in the namespace `ns_fd` (None: the one pipenet runs in)."""
    enter = (lambda: linux.setns(ns_fd, linux.CLONE_NEWNET)) if ns_fd is not None else None
    return subprocess.run(argv, input=text, capture_output=True, text=True, preexec_fn=enter,
                          pass_fds=(ns_fd,) if ns_fd is not None else (), timeout=60)


def _run(ns_fd: int | None, table: str, lines: list[str], what: str) -> None:
    """Restore `lines` (`*TABLE` first, `COMMIT` last, the table bare) into `table` of its family."""
    bare, tool, _ = _split(table)
    exe = _which(f"{tool}-restore")
    if exe is None:
        raise FileNotFoundError(2, f"{tool}-restore is not installed (apt-get install iptables)")
    _changed(ns_fd, table)
    r = _in_ns(ns_fd, [exe, "-w", "--noflush"], "\n".join(lines) + "\n")
    if r.returncode != 0:
        raise OSError(5, f"{what}: {tool}-restore: {r.stderr.strip() or r.returncode}")


def _tagged(rule: str, tag: str) -> bool:
    return f'--comment "{tag}"' in rule or rule.endswith(f"--comment {tag}") or f"--comment {tag} " in rule


#: `iptables-save` (or `ip6tables-save`) output per namespace (by its nsfs identity: an fd number can be
#: reused by another namespace) and tool, with the tables changed since (read again when asked about)
_SAVED: dict[tuple, tuple[str, set[str]]] = {}


def _ident(ns_fd: int | None) -> tuple | None:
    if ns_fd is None:
        return None
    st = os.fstat(ns_fd)
    return (st.st_dev, st.st_ino)


def save_all(ns_fd: int | None, table: str | None = None) -> str:
    """`iptables-save` (`ip6tables-save` for an `ip6:` table) of every existing table (unlike `-t TABLE`,
    it creates none), read once per namespace and again only after pipenet restored a table there."""
    _, tool, _ = _split(table or "")
    key = (_ident(ns_fd), tool)
    cached = _SAVED.get(key)
    if cached is not None and not cached[1]:
        return cached[0]
    exe = _which(f"{tool}-save")
    out = _in_ns(ns_fd, [exe]).stdout if exe else ""
    _SAVED[key] = (out, set())
    return out


def save_both(ns_fd: int | None) -> str:
    """`iptables-save` then `ip6tables-save`, the second's tables named `ip6:TABLE`: what the live view
    reads, one text for both families."""
    v6 = [f"*ip6:{line[1:]}" if line.startswith("*") else line for line in save_all(ns_fd, "ip6:").splitlines()]
    return save_all(ns_fd) + "".join(f"{line}\n" for line in v6)


def _changed(ns_fd: int | None, table: str) -> None:
    key = (_ident(ns_fd), _split(table)[1])
    if key in _SAVED:
        _SAVED[key][1].add(table)


def _section(ns_fd: int | None, table: str) -> dict[str, list[str]]:
    """{chain: [rule text after `-A CHAIN `]} of one table (empty when the table does not exist)."""
    chains: dict[str, list[str]] = {}
    inside = False
    bare = _split(table)[0]
    for line in save_all(ns_fd, table).splitlines():
        if line.startswith("*"):
            inside = line[1:].strip() == bare
        elif not inside:
            continue
        elif line.startswith(":"):
            chains.setdefault(line[1:].split()[0], [])
        elif line.startswith("-A "):
            parts = line.split(None, 2)
            chains.setdefault(parts[1], []).append(parts[2] if len(parts) > 2 else "")
        elif line == "COMMIT":
            inside = False
    return chains


def table_exists(ns_fd: int | None, table: str) -> bool:
    return f"*{_split(table)[0]}" in save_all(ns_fd, table).splitlines()


def _nft_backend() -> bool:
    exe = _which("iptables")
    if exe is None:
        return False
    return "nf_tables" in subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout


def builtins_present(ns_fd: int | None, table: str) -> set[str]:
    """The built-in chains that exist in `table` now. With iptables-nft, `iptables-save` lists them all
    whether they exist or not, so nft is asked."""
    if not table_exists(ns_fd, table):
        return set()
    bare, _, family = _split(table)
    nft = _which("nft")
    if nft is None or not _nft_backend():
        return set(BUILTINS.get(bare, ()))
    r = _in_ns(ns_fd, [nft, "-j", "list", "table", family, bare])
    try:
        doc = json.loads(r.stdout or "{}")
    except json.JSONDecodeError:
        return set(BUILTINS.get(bare, ()))
    return {x["chain"]["name"] for x in doc.get("nftables", []) if "chain" in x and "hook" in x["chain"]}


def install(ns_fd: int | None, table: str, chains: dict[str, list[str]], jumps: list[tuple[str, str, str]],
            tag: str) -> dict[str, list[str]]:
    """chains: {chain name: rules}; jumps: (builtin chain, match, chain) inserted once at the top.
    Returns the chains as `iptables-save` prints them afterwards."""
    present = _section(ns_fd, table)
    lines = [f"*{_split(table)[0]}"]
    lines += [f":{name} - [0:0]" for name in chains]
    for name, rules in chains.items():
        lines += [f"-A {name} {r}" for r in rules]
    for builtin, match, chain in jumps:
        if not any(r.split()[-2:] == ["-j", chain] and _tagged(r, tag) for r in present.get(builtin, ())):
            m = f"{match} " if match else ""
            lines.append(f"-I {builtin} 1 {m}-m comment --comment {tag} -j {chain}")
    lines.append("COMMIT")
    _run(ns_fd, table, lines, f"install {table} rules")
    after = _section(ns_fd, table)
    return {name: after.get(name, []) for name in chains}


def restore_chains(ns_fd: int | None, table: str, chains: dict[str, list[str] | None],
                   drop_jumps: list[tuple[str, str, str]], tag: str) -> None:
    """Put chains back as they were (rules as `iptables-save` printed them; None: the chain did not
    exist) and remove the jumps listed (ones a repair had added)."""
    present = _section(ns_fd, table)
    lines = [f"*{_split(table)[0]}"]
    for builtin, _match, chain in drop_jumps:
        for r in present.get(builtin, ()):
            if r.split()[-2:] == ["-j", chain] and _tagged(r, tag):
                lines.append(f"-D {builtin} {r}")
    for name, rules in chains.items():
        if rules is None:
            if name in present:
                lines += [f":{name} - [0:0]", f"-X {name}"]
        else:
            lines.append(f":{name} - [0:0]")
            lines += [f"-A {name} {r}" for r in rules]
    lines.append("COMMIT")
    if len(lines) > 2:
        _run(ns_fd, table, lines, f"restore {table} rules")


def remove(ns_fd: int | None, table: str, chains: list[str], jumps: list[tuple[str, str, str]], tag: str,
           drop_table: bool = False, builtins_before: list[str] | None = None) -> None:
    present = _section(ns_fd, table)
    ours = {c for c in chains if c in present and present[c] and all(_tagged(r, tag) for r in present[c])}
    lines = [f"*{_split(table)[0]}"]
    for builtin, _match, chain in jumps:
        for r in present.get(builtin, ()):
            if r.split()[-2:] == ["-j", chain] and _tagged(r, tag):
                lines.append(f"-D {builtin} {r}")
    lines += [f":{c} - [0:0]" for c in chains if c in ours]
    lines += [f"-X {c}" for c in chains if c in ours]
    lines.append("COMMIT")
    if len(lines) > 2:
        _run(ns_fd, table, lines, f"remove {table} rules")
    if builtins_before is not None:
        _drop_builtins(ns_fd, table, {j[0] for j in jumps} - set(builtins_before))
    if drop_table:
        drop_table_if_pristine(ns_fd, table)


def _drop_builtins(ns_fd: int | None, table: str, made: set[str]) -> None:
    """Remove built-in chains that exist only because pipenet jumped from them, now empty (nf_tables)."""
    if not made or not table_exists(ns_fd, table):
        return
    nft = _which("nft")
    if nft is None or not _nft_backend():
        return
    section = _section(ns_fd, table)
    bare, _, family = _split(table)
    for chain in sorted(made):
        if chain in section and not section[chain] and chain in builtins_present(ns_fd, table):
            _changed(ns_fd, table)
            _in_ns(ns_fd, [nft, "delete", "chain", family, bare, chain])


def drop_table_if_pristine(ns_fd: int | None, table: str) -> None:
    """Delete a table that only exists because pipenet used it, once it holds nothing again
    (iptables-nft creates a table on first use and never removes it)."""
    bare, _, family = _split(table)
    lines = save_all(ns_fd, table).splitlines()
    if f"*{bare}" not in lines:
        return
    section = lines[lines.index(f"*{bare}") + 1:]
    section = section[: section.index("COMMIT")] if "COMMIT" in section else section
    builtin = set(BUILTINS.get(bare, ()))
    for line in section:
        if line.startswith("-"):
            return  # a rule: someone else's
        if line.startswith(":"):
            name, policy = line[1:].split()[:2]
            if name not in builtin or policy != "ACCEPT":
                return
    nft = _which("nft")
    if nft is None or not _nft_backend():
        return
    _changed(ns_fd, table)
    _in_ns(ns_fd, [nft, "delete", "table", family, bare])
