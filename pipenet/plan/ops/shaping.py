"""Link shaping: tbf for a rate, netem for delay, jitter and loss (netem at the root, tbf under it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pipenet.plan.ops.base import OK, Op, changed, in_ns_cmd, missing

#: the qdiscs an interface has when nobody shaped it
DEFAULT_QDISCS = {"noqueue", "pfifo_fast", "fq_codel", "mq", "noop", "pfifo", ""}
TBF_LATENCY_US = 50_000


def tbf_burst(rate_bps: int) -> int:
    """The bucket size in bytes: 10 ms of traffic at the rate, at least 16 KiB (what one source of
    truth means: `apply`, `describe` and the live check all use this)."""
    return max(max(rate_bps // 8, 1) // 100, 16 * 1024)


@dataclass
class SetShape(Op):
    kind: ClassVar[str] = "shape"
    repairable: ClassVar[bool] = True
    node: str
    ns: str
    ifname: str
    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_pct: float | None = None
    rate_bps: int | None = None
    link_key: str = ""

    @property
    def key(self):
        return f"shape:{self.node}:{self.ifname}"

    @property
    def parents(self):
        ps = [f"netns:{self.node}"] if self.node != "host" else []
        return tuple(ps + ([self.link_key] if self.link_key else []))

    @property
    def netem(self) -> bool:
        return bool(self.delay_ms or self.jitter_ms or self.loss_pct)

    def _params(self) -> dict:
        return {"delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms, "loss_pct": self.loss_pct,
                "rate_bps": self.rate_bps, "burst": tbf_burst(self.rate_bps) if self.rate_bps else None}

    def apply(self, k):
        k.qdisc_set(self.ns, self.ifname, **self._params())

    def undo(self, k):
        if k.netns_exists(self.ns):
            k.qdisc_del(self.ns, self.ifname)

    def _text(self) -> str:
        parts = []
        if self.delay_ms:
            parts.append(f"delay {self.delay_ms:g}ms")
        if self.jitter_ms:
            parts.append(f"jitter {self.jitter_ms:g}ms")
        if self.loss_pct:
            parts.append(f"loss {self.loss_pct:g}%")
        if self.rate_bps:
            parts.append(f"rate {self.rate_bps}bit")
        return " ".join(parts)

    def check(self, view):
        q = view.qdiscs(self.ns).get(self.ifname)
        if q is None or q.kind in DEFAULT_QDISCS:
            return missing(f"shaping on {self.node}:{self.ifname}", self._text())
        want_root = "netem" if self.netem else "tbf"
        tbf = q.child if self.netem else q
        same = q.kind == want_root
        if same and self.rate_bps:
            same = tbf is not None and tbf.kind == "tbf" and tbf.rate_bps == (self.rate_bps // 8) * 8
        elif same and self.netem:
            same = q.child is None
        if same and self.netem and q.delay_ms is not None:
            same = abs((q.delay_ms or 0) - (self.delay_ms or 0)) < 0.01
        if same:
            return OK
        actual = q.kind + (f" rate {q.rate_bps}bit" if q.rate_bps else "") + (
            f" delay {q.delay_ms:g}ms" if q.delay_ms else "") + (
            f" + {q.child.kind} rate {q.child.rate_bps}bit" if q.child is not None and q.child.rate_bps else "")
        observed = {"kind": q.kind, "delay_ms": q.delay_ms, "jitter_ms": q.jitter_ms, "loss_pct": q.loss_pct,
                    "rate_bps": q.rate_bps if q.kind == "tbf" else (q.child.rate_bps if q.child else None)}
        return changed(f"shaping on {self.node}:{self.ifname} is {actual}", self._text(), actual, observed)

    def repair(self, k, observed):
        k.qdisc_del(self.ns, self.ifname)
        k.qdisc_set(self.ns, self.ifname, **self._params())

    def unrepair(self, k, observed):
        k.qdisc_del(self.ns, self.ifname)
        kind = observed.get("kind")
        if kind in ("tbf", "netem"):
            rate = observed.get("rate_bps")
            k.qdisc_set(self.ns, self.ifname, delay_ms=observed.get("delay_ms"), jitter_ms=observed.get("jitter_ms"),
                        loss_pct=observed.get("loss_pct"), rate_bps=rate, burst=tbf_burst(rate) if rate else None)
        elif kind not in DEFAULT_QDISCS:
            raise OSError(95, f"cannot put back the {kind} qdisc that was on {self.node}:{self.ifname}")

    def describe(self):
        out = []
        netem = []
        if self.delay_ms:
            netem += ["delay", f"{self.delay_ms:g}ms"]
        if self.jitter_ms:
            netem += [f"{self.jitter_ms:g}ms"]
        if self.loss_pct:
            netem += ["loss", f"{self.loss_pct:g}%"]

        def tc(*a):
            return in_ns_cmd(self.ns, "tc", "qdisc", "add", "dev", self.ifname, *a)

        if netem:
            out.append(tc("root", "handle", "1:", "netem", *netem))
        if self.rate_bps:
            parent = ["parent", "1:1", "handle", "10:"] if netem else ["root", "handle", "1:"]
            out.append(tc(*parent, "tbf", "rate", f"{self.rate_bps}bit", "burst", str(tbf_burst(self.rate_bps)),
                          "latency", f"{TBF_LATENCY_US // 1000}ms"))
        return out

    def describe_undo(self):
        return [in_ns_cmd(self.ns, "tc", "qdisc", "del", "dev", self.ifname, "root")]

    def describe_repair(self, observed):
        return self.describe_undo() + self.describe()
