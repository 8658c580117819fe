"""A machine's side of one `up` (or `plan`) across machines: one process, one conversation (docs/multi-host.md).

The coordinator starts `pipenet slice` once on each machine and talks to
it in JSON lines (its stdin, this process's stdout), so that each machine
reads its facts, plans its slice and applies exactly that plan in one
process, instead of a process per phase planning the same slice again:

1. `facts` (this machine's version, underlay MTU), said at once; the UDP
   socket of the underlay probe is bound before, so every machine listens
   before any machine sends. The whole file is parsed while the
   coordinator gathers every machine's facts.
2. Meanwhile it plans and checks its slice (claims taken, nothing
   changed) on a guess of the underlay MTUs (the slice depends on every
   machine's: its own, and 1500 elsewhere). The coordinator answers with
   the real ones and the underlay addresses to probe; this machine sends
   each of them a datagram on the VXLAN port and listens for those it must
   hear; if the real MTUs make another slice, it plans that one. It says
   what it heard and its plan, or its refusal.
3. On `go` it applies that plan and says `applied`; then only `keep` makes
   it stay. Anything else, or losing the coordinator (its end of the pipe
   closed: a killed coordinator, a broken ssh connection) at any point,
   and it leaves nothing: before applying, it drops its claim; after, it
   takes its slice down itself, since the coordinator may never reach it
   again to ask.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor


#: the tunnels' UDP port (pipenet.kinds.vxlan.DEFAULT_PORT, held equal by a test: not imported, as loading the
#: kinds before a machine says its facts costs 20 ms)
VXLAN_PORT = 4789
#: how long a machine listens for the other machines' probes
PROBE_SECONDS = 2.0
PROBE_MAGIC = b"pipenet-underlay-probe "
#: when the probe is sent (seconds after the start), until every machine to hear was heard and it was sent
#: twice; UDP may drop one
SENDS = (0.0, 0.02, 0.3, 1.0)


def facts(underlay: str) -> dict:
    """What the coordinator asks a machine before any change (the first thing a machine says): its
    pipenet's version and the MTU of the interface that holds its underlay address."""
    import subprocess

    from pipenet import __version__

    out: dict = {"version": __version__, "mtu": None}
    if not underlay:
        return out
    p = subprocess.run(["ip", "-o", "addr", "show", "to", underlay], capture_output=True, text=True)
    words = p.stdout.split()
    if p.returncode != 0 or len(words) < 2:
        out["error"] = f"no interface here has the underlay address {underlay}"
        return out
    # (`ip link`, not /sys/class/net: sysfs shows the namespace that mounted it, not necessarily this one)
    link = subprocess.run(["ip", "-o", "link", "show", "dev", words[1].split("@")[0]], capture_output=True,
                          text=True).stdout.split()
    if "mtu" in link[:-1]:
        out["mtu"] = int(link[link.index("mtu") + 1])
    return out


class Lost(Exception):
    """The coordinator is gone (its end of the conversation closed)."""


class Line:
    """The conversation: JSON objects, one a line, on this process's stdin and stdout."""

    def __init__(self, stdin, stdout):
        self.stdin, self.stdout = stdin, stdout

    def say(self, obj: dict) -> None:
        try:
            self.stdout.write(json.dumps(obj) + "\n")
            self.stdout.flush()
        except (OSError, ValueError):
            raise Lost() from None

    def hear(self) -> dict:
        try:
            line = self.stdin.readline()
        except (OSError, ValueError):
            raise Lost() from None
        if not line:
            raise Lost()
        try:
            got = json.loads(line)
        except ValueError:
            raise Lost() from None
        return got if isinstance(got, dict) else {}


def bound(underlay: str, port: int) -> socket.socket | None:
    """A UDP socket on the underlay address and the VXLAN port, or None when the port is not free here
    (this machine's tunnels already hold it: the kernel's VXLAN socket then takes the datagrams)."""
    if not underlay:
        return None
    family = socket.AF_INET6 if ":" in underlay else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.bind((underlay, port))
    except OSError:
        s.close()
        return None
    return s


def probe(sock: socket.socket | None, me: str, port: int, send_to: dict[str, str], hear_from: list[str],
          token: str) -> list[str]:
    """Send every machine of `send_to` a datagram on the VXLAN port (a few times, as UDP may drop one),
    and listen for one from each machine of `hear_from`: the machines heard."""
    heard: set[str] = set()
    wanted = set(hear_from)
    deadline = time.monotonic() + PROBE_SECONDS
    sends = list(SENDS)
    start = time.monotonic()
    while True:
        now = time.monotonic() - start
        while sends and sends[0] <= now:
            sends.pop(0)
            for addr in send_to.values():
                family = socket.AF_INET6 if ":" in addr else socket.AF_INET
                with socket.socket(family, socket.SOCK_DGRAM) as out:
                    try:
                        out.sendto(PROBE_MAGIC + f"{token} {me}".encode(), (addr, port))
                    except OSError:
                        pass
        if (sock is None or wanted <= heard) and len(sends) <= len(SENDS) - 2:  # (all heard, sent twice)
            break
        left = deadline - time.monotonic()
        if left <= 0:
            break
        wait = min(left, (sends[0] - now) if sends else left)
        if sock is None or wanted <= heard:
            time.sleep(max(0.0, wait))
            continue
        ready, _, _ = select.select([sock], [], [], max(0.0, wait))
        if ready:
            data, _ = sock.recvfrom(512)
            if data.startswith(PROBE_MAGIC):
                words = data[len(PROBE_MAGIC):].decode(errors="replace").split()
                if len(words) == 2 and words[0] == token:
                    heard.add(words[1])
    return sorted(heard & wanted)


def converse(request: dict, k, line: Line, path: str) -> dict | None:
    """The machine's side of the conversation (see the module's doc): its `up` as JSON once kept, None when
    the coordinator stopped it before any change (or left it: `Lost`). `path` is what the record names as
    the file (the coordinator's file is not on this machine)."""
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # (a closed pipe is an error to handle, not death)
    machine, underlay = str(request["machine"]), str(request.get("underlay") or "")
    sock = bound(underlay, VXLAN_PORT)
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        own = facts(underlay)
        line.say({"facts": {**own, "probe": sock is not None}})
        from pipenet import results  # (the engine's modules load after the facts are said: 60 ms sooner)
        from pipenet.engine import session
        from pipenet.engine.runtime import plan_shown
        from pipenet.lang.load import load_text
        from pipenet.plan.slice import inner_mtus, slice_for

        text, file = str(request["text"]), str(request.get("file") or "<text>")
        whole = load_text(text, file)  # (while the coordinator gathers the other machines' facts)
        said: dict = {}

        def told() -> dict:
            """The coordinator's answer to the facts (heard once); the probe starts on it."""
            if "told" not in said:
                got = said["told"] = line.hear()
                if got.get("go"):
                    said["probing"] = pool.submit(probe, sock, machine, VXLAN_PORT, dict(got.get("send") or {}),
                                                  list(got.get("listen") or ()), str(got.get("token") or ""))
            return said["told"]

        def mtus() -> dict[str, int]:
            return {str(m): int(v) for m, v in (told().get("mtus") or {}).items()}

        def agreed_for(used: dict):
            """agreed(p) for a plan of the slice as `used` (the underlay MTUs) makes it: heard and said only
            when the coordinator's MTUs make the same slice (else `again`: planned anew)."""
            def agreed(p) -> bool:
                try:
                    if not told().get("go"):
                        return False
                    if inner_mtus(whole, mtus())[0] != inner_mtus(whole, used)[0]:
                        said["again"] = True
                        return False
                    heard = said["probing"].result()
                    if sock is not None:
                        sock.close()  # (before any change: this machine's tunnel takes the port next)
                    line.say({"heard": heard if sock is not None else None})
                    line.say({"plan": results.Plan(p.topo.name, plan_shown(p)).to_json()})
                    return bool(line.hear().get("go"))
                except Lost:
                    return False

            return agreed

        if request.get("plan_only"):  # (`pipenet plan`: no journal recovered, no claim taken)
            if not told().get("go"):
                return None
            topo = slice_for(whole, machine, mtus())
            p = session.prepare(path, k, (text, topo))
            session.preflight(p, k)
            agreed_for(mtus())(p)
            return None
        # planned at once on a guess (every other underlay's MTU 1500, as is most likely), while the other
        # machines are still being reached; planned again only if the coordinator's MTUs change the slice
        guess = {machine: int(own["mtu"])} if own.get("mtu") else {}
        topo = slice_for(whole, machine, guess)
        done = session.up(path, k, None, (text, topo), agreed=agreed_for(guess))  # (a refusal: raised)
        if done is None and said.pop("again", False):
            topo = slice_for(whole, machine, mtus())
            done = session.up(path, k, None, (text, topo), agreed=agreed_for(mtus()))
    finally:
        pool.shutdown()
        if sock is not None:
            sock.close()
    if done is None:
        return None
    p, seconds = done
    change = results.Change.of(p.topo.name, p.plan.steps, seconds, p.notes, p.beyond).to_json()
    try:
        line.say({"applied": change})
        if line.hear().get("keep"):
            line.say({"kept": True})
            return change
    except Lost:
        pass
    session.down(topo.name, k)  # told to go, or the coordinator lost: it cannot undo this slice from afar
    return None

