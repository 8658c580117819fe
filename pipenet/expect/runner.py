"""Run a topology's expectations against the live network.

Every check is a coroutine of one event loop in this process: pings go out
of a raw ICMP socket opened inside the source node, TCP and UDP probes use a
socket of their own opened there, temporary listeners are sockets opened in
the target; only name resolution starts a process in the node (one per node,
for all its names). At most IN_FLIGHT probes run at once; the results come
back in file order. See docs/how-it-works.md, "Probes".

A probe's verdict depends only on what the network answers to that probe:
replies are matched to their probe (ping.py), a probe that fails for lack of
an answer had its whole deadline with retries (3 s for `can reach`, 1 s for
`cannot reach`), and the neighbour entries probes make are given back as
they finish (footprint.py), so a thousand probes do not fill the kernel's
machine-wide neighbour table and starve each other (issue 20).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import sys
import time
from dataclasses import dataclass

from pipenet.expect import conntable, spawn
from pipenet.expect.connect import tcp, udp
from pipenet.expect.footprint import Footprint, table_overflows
from pipenet.expect.gate import PortGate
from pipenet.expect.listeners import Listener
from pipenet.expect.ping import Answer
from pipenet.expect.places import Places
from pipenet.expect.targets import HOST, Targets
from pipenet.ir import Expectation, Topology

REACH_TIMEOUT = 3.0
UNREACH_TIMEOUT = 1.0
RESOLVE_TIMEOUT = 10.0
IN_FLIGHT = 64  # probes at once; each holds at most two neighbour entries, so 128 at most
AGENTS = 4  # resolver processes at once
# how long a finished probe keeps its slot and its neighbour entries, for its last packets: none after a
# single echo or datagram answered; a TCP close's handshake; the answers to earlier attempts of a retried probe
LINGER_TCP = 0.05
LINGER_RETRIED = 0.2
#: `within`: the pause between two attempts, and the shortest attempt (at the end of the time given)
UNTIL_PAUSE = 0.5
UNTIL_MIN_ATTEMPT = 0.5
DAD_WAIT = 3.0  # at most this long for new IPv6 addresses to finish duplicate address detection


@dataclass
class Result:
    expectation: Expectation
    ok: bool
    detail: str
    seconds: float

    def to_json(self) -> dict:
        e = self.expectation
        return {"expectation": e.describe(), "line": e.span.line, "passed": self.ok, "detail": self.detail,
                "seconds": round(self.seconds, 3)}


class _Terminated(Exception):
    """SIGTERM arrived during the run: everything was closed; the process then dies of the signal."""


class Runner:
    def __init__(self, topo: Topology, record: dict, k, in_flight: int = IN_FLIGHT):
        self.t = topo
        self.k = k
        self.targets = Targets(topo, record)
        self.in_flight = in_flight

    def run(self, expectations) -> list[Result]:
        try:
            return asyncio.run(self._run(list(expectations)))
        except _Terminated:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            raise SystemExit(128 + signal.SIGTERM) from None

    # ---- the run ---------------------------------------------------------------------------------------------
    async def _run(self, exps: list[Expectation]) -> list[Result]:
        loop = asyncio.get_running_loop()
        self.places = Places(self.k)
        self.footprint = Footprint(self.places.rtnl)
        self.slots = asyncio.Semaphore(self.in_flight)
        self.agent_slots = asyncio.Semaphore(AGENTS)
        self.gates: dict[tuple, PortGate] = {}
        self.resolvers: dict[str, asyncio.Task] = {}
        self.names = {}
        for e in exps:
            if e.kind == "resolves":
                self.names.setdefault(e.source, {})[e.name] = None
        self.idents = itertools.count(os.getpid())
        self.overflows_before = table_overflows()
        main = asyncio.current_task()
        terminated = []

        def on_term():
            terminated.append(True)
            main.cancel()

        try:
            loop.add_signal_handler(signal.SIGTERM, on_term)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
            pass
        try:
            if self.targets.has_ipv6():
                await self._dad_over(exps)
            return await asyncio.gather(*(self.check(e) for e in exps))
        except asyncio.CancelledError:
            if terminated:
                raise _Terminated() from None
            raise
        finally:
            try:
                loop.remove_signal_handler(signal.SIGTERM)
            except (ValueError, RuntimeError, NotImplementedError):
                pass
            for task in self.resolvers.values():
                task.cancel()
            self.footprint.give_back_all()
            for g in self.gates.values():
                g.close()
            self.places.close()

    async def check(self, e: Expectation) -> Result:
        """One expectation's result; its `seconds` count from when its probe started, not its wait for a
        free slot (or, for a name, from when its node's resolver started)."""
        start = [time.monotonic()]
        try:
            if e.kind == "resolves":
                ok, detail = await self._resolves(e, start)
            elif e.within is not None:
                ok, detail = await self._until(e, start)
            else:
                ok, detail = await self._reach(e, start)
        except asyncio.CancelledError:
            raise
        except Exception as ex:  # noqa: BLE001 - reported as a failed check
            ok, detail = False, f"could not run: {ex}"
        if not ok and e.kind == "reach" and self._overflowed():
            detail += ("; meanwhile the kernel's neighbour table (shared by every namespace on this machine) "
                       "was full: see net.ipv4.neigh.default.gc_thresh3")
        return Result(e, ok, detail, time.monotonic() - start[0])

    async def _dad_over(self, exps: list[Expectation]) -> None:
        """Right after `up`, a new IPv6 address is tentative for about a second (duplicate address
        detection): the kernel neither sends from it nor answers it, and a `cannot reach` would pass
        for that reason alone. So probing starts when no address of the nodes involved is tentative."""
        nodes = {e.source for e in exps} | {e.target.node for e in exps if e.target is not None}
        refs = {r for r in (self.targets.ns_ref(n) for n in nodes) if r is not None}
        deadline = time.monotonic() + DAD_WAIT
        while time.monotonic() < deadline:
            try:
                if not any(self.places.rtnl(ref).tentative_v6() for ref in refs):
                    return
            except OSError:
                return
            await asyncio.sleep(0.1)

    def _overflowed(self) -> bool:
        now = table_overflows()
        return self.overflows_before is not None and now is not None and now > self.overflows_before

    # ---- neighbour entries -----------------------------------------------------------------------------------
    def _take(self, src_ref: str, ip: str, dst_ref: str | None) -> list:
        try:
            return self.footprint.take(src_ref, ip, dst_ref)
        except OSError:
            return []

    async def _give_back(self, keys: list, a: Answer | None, tcp: bool = False) -> None:
        """Give back a probe's entries once its last packets are through; the probe's slot is held until
        then, so that at most 2 x IN_FLIGHT entries exist at any time, lingering ones included."""
        try:
            linger = LINGER_RETRIED if a is None or a.attempts > 1 else LINGER_TCP if tcp else 0.0
            if keys and linger:
                await asyncio.sleep(linger)
        finally:
            try:
                self.footprint.give_back(keys)
            except OSError:
                pass

    # ---- reachability ----------------------------------------------------------------------------------------
    async def _until(self, e: Expectation, start: list[float]) -> tuple[bool, str]:
        """`within T`: the same probe, again and again, until one attempt gives the expected verdict (a
        `can reach` answered; a `cannot reach` unanswered for its whole 1 s) or T has passed since the
        first began. Each attempt is an ordinary probe, with its own deadline cut to the time left, so
        a verdict is never looser than without `within`; only the waiting is longer."""
        first = None
        attempts = 0
        while True:
            began = time.monotonic()
            if first is None:
                first = began
            left = e.within - (began - first)
            attempts += 1
            ok, detail = await self._reach(e, start, min(REACH_TIMEOUT if e.kind == "reach" else UNREACH_TIMEOUT,
                                                        max(left, UNTIL_MIN_ATTEMPT)))
            spent = time.monotonic() - first
            if ok:
                start[0] = first
                return True, detail + (f" (after {spent:.1f} s, attempt {attempts})" if attempts > 1 else "")
            if spent + UNTIL_PAUSE >= e.within:
                start[0] = first
                return False, f"{detail} (still so after {spent:.1f} s, {attempts} attempts)"
            await asyncio.sleep(UNTIL_PAUSE)

    async def _reach(self, e: Expectation, start: list[float], timeout: float | None = None) -> tuple[bool, str]:
        aim = self.targets.aim(e)
        want = e.kind == "reach"
        if aim.ip is None:  # nothing to probe: a fact about the network, so `cannot reach` holds
            return (not want), aim.why or f"{e.target} has no address to probe"
        src_ref = self.targets.ns_ref(e.source)
        if src_ref is None:
            return False, f"{e.source} has no namespace to probe from (is the topology up?)"
        if timeout is None:
            timeout = REACH_TIMEOUT if want else UNREACH_TIMEOUT
        port = e.target.port
        if port is None:
            async with self.slots:
                start[0] = time.monotonic()
                keys = self._take(src_ref, aim.ip, self.targets.ns_ref(aim.node))
                a = None
                try:
                    pinger = self.places.pinger(src_ref, 6 if ":" in aim.ip else 4)
                    a = await pinger.ping(aim.ip, timeout, next(self.idents), persist=want)
                finally:
                    await self._give_back(keys, a)
            return self._verdict(want, a, f"ping {aim.ip}")
        server, server_port = aim.node, port.number
        if aim.node == HOST:
            pub = self.targets.published_to(port.number, port.proto)
            if pub is not None:
                server, server_port = pub
        server_ref = self.targets.ns_ref(server)
        checks_as = want and (e.as_ip is not None or e.as_node is not None)
        gate = self._gate(server_ref, aim.ip, server_port, port.proto)
        await gate.enter(alone=checks_as)
        seen: set[str] = set()
        try:
            if gate.problem:
                return False, f"could not start a listener in {server}: {gate.problem}"
            async with self.slots:
                start[0] = time.monotonic()
                keys = self._take(src_ref, aim.ip, server_ref)
                a = None
                try:
                    if port.proto == "tcp":
                        a, s = await tcp(self.places.opener(src_ref), aim.ip, port.number, timeout, persist=want)
                        if s is not None:
                            try:
                                if checks_as and server_ref is not None:
                                    seen = conntable.seen_on(self.places.read_net(server_ref, "tcp"), server_port)
                            finally:
                                s.close()
                    else:
                        a = await udp(self.places.opener(src_ref), aim.ip, port.number, timeout, persist=want)
                finally:
                    await self._give_back(keys, a, tcp=port.proto == "tcp")
        finally:
            gate.leave()
        where = f"[{aim.ip}]" if ":" in aim.ip else aim.ip  # (an IPv6 address with a port, as URLs write it)
        ok, detail = self._verdict(want, a, f"{port.proto} {where}:{port.number}")
        if ok and checks_as:
            expected = self.targets.expected_as(e)
            if expected not in seen:
                return False, f"connected, but {server} saw {', '.join(sorted(seen)) or 'nothing'}, not {expected}"
            detail += f", seen as {expected}"
        return ok, detail

    def _gate(self, server_ref: str | None, ip: str, port: int, proto: str) -> PortGate:
        key = (server_ref if server_ref is not None else ip, port, proto)
        gate = self.gates.get(key)
        if gate is None:
            def open_listener():
                if server_ref is None or conntable.listening(self.places.read_net(server_ref, proto), port, proto):
                    return None
                sock = self.places.inside(server_ref, lambda: Listener.open_here(proto, port))
                return Listener(sock, proto)

            gate = self.gates[key] = PortGate(open_listener)
        return gate

    @staticmethod
    def _verdict(want: bool, a: Answer, what: str) -> tuple[bool, str]:
        if a.ok:
            return want, f"{what}: answered in {a.ms} ms"
        return (not want), f"{what}: {a.why}"

    # ---- names -------------------------------------------------------------------------------------------------
    async def _resolves(self, e: Expectation, start: list[float]) -> tuple[bool, str]:
        task = self.resolvers.get(e.source)
        if task is None:
            task = self.resolvers[e.source] = asyncio.get_running_loop().create_task(
                self._resolver(e.source, list(self.names[e.source])))
        answers, start[0] = await asyncio.shield(task)
        a = answers.get(e.name) or {"why": "the resolver gave no answer"}
        got = a.get("addresses", [])
        if str(e.ip) in got:
            return True, f"{e.name} is {', '.join(got)}"
        return False, (f"{e.name} resolved to {', '.join(got)}" if got else f"{e.name} did not resolve: "
                       f"{a.get('why')}")

    async def _resolver(self, node: str, names: list[str]) -> tuple[dict[str, dict], float]:
        """One agent process inside `node` resolving all its names: {name: answer}, and when it started."""
        from pipenet.backends.enter import enter, etc_dir
        from pipenet.plan.ops.nodefiles import binds_of

        ref = self.targets.ns_ref(node)
        path = None if not ref else (ref if ref.startswith("/") else os.path.join("/run/netns", ref))
        c = self.t.container_map.get(node)
        hostname = c.uts_hostname if c is not None else None
        etc = etc_dir(ref or "")
        binds = binds_of(self.targets.record.get("ops", []), node)  # (an /etc/nsswitch.conf of its own, say)
        then = None if path is None else (lambda: enter(path, hostname, etc, binds))
        env = dict(os.environ, RES_OPTIONS="timeout:1 attempts:1")
        answers: dict[str, dict] = {}
        async with self.agent_slots:
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pipenet.expect.agent", "resolve", *names, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
                preexec_fn=spawn.preexec(then))
            try:
                async with asyncio.timeout(RESOLVE_TIMEOUT):
                    while len(answers) < len(names):
                        line = await proc.stdout.readline()
                        if not line:
                            break
                        a = json.loads(line)
                        answers[a.get("name")] = a
            except (TimeoutError, json.JSONDecodeError):
                pass
            finally:
                if proc.returncode is None:
                    proc.kill()
                await proc.wait()
        return answers, started
