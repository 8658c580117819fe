"""Host settings shared by several topologies: one ledger for all of them.

A host-wide setting (`net.ipv4.ip_forward`, `net.bridge.bridge-nf-call-
iptables`, `net.ipv4.conf.all.rp_filter`, a setting of an external bridge)
may be wanted by several topologies at once. The ledger
(`STATE_ROOT/.host-settings.json`, changed under the state root's lock)
keeps, per setting, the machine's original value and the value each
topology asked for: the first user saves the original, later users with
the same value join, the last to go restores the original, in any order.
A topology asking for a different value than one already holding the
setting is refused (the planner checks this before any change; `acquire`
checks again).
"""

from __future__ import annotations

import json
import os

from pipenet.fsutil import locked_dir, write_atomic

NAME = ".host-settings.json"


class LedgerError(OSError):
    """The ledger cannot be read, or a demand conflicts with another topology's."""


class Ledger:
    def __init__(self, root: str, get, set_):
        self.root = root
        self.path = os.path.join(root, NAME)
        self.get, self.set = get, set_

    def load(self) -> dict:
        """{setting: {"original": value, "users": {topology: value}}} (empty when there is no ledger)."""
        try:
            with open(self.path, "rb") as f:
                doc = json.loads(f.read())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise LedgerError(5, f"{self.path} cannot be read ({e}); move it away to start a new one "
                                 f"(the machine's original settings it kept are then forgotten)") from None
        settings = doc.get("settings") if isinstance(doc, dict) else None
        if not isinstance(settings, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("users"), dict) for v in settings.values()):
            raise LedgerError(5, f"{self.path} is not a pipenet host-settings ledger; move it away to start a "
                                 f"new one")
        return settings

    def _save(self, settings: dict) -> None:
        if settings:
            write_atomic(self.path, json.dumps({"settings": settings}, sort_keys=True).encode(), 0o600)
        else:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def conflicts(self, topology: str, wanted: dict[str, str]) -> list[str]:
        """One line per setting this topology wants at a value another topology holds differently."""
        out = []
        settings = self.load()
        for name, value in sorted(wanted.items()):
            for other, theirs in sorted(settings.get(name, {}).get("users", {}).items()):
                if other != topology and str(theirs) != str(value):
                    out.append(f"host setting {name}: topology {topology} wants {value}, but topology {other} "
                               f"holds it at {theirs}")
        return out

    def acquire(self, topology: str, name: str, value: str) -> None:
        with locked_dir(self.root):
            settings = self.load()
            entry = settings.get(name)
            if entry is not None:
                for other, theirs in entry["users"].items():
                    if other != topology and str(theirs) != str(value):
                        raise LedgerError(16, f"host setting {name}: topology {other} holds it at {theirs}")
            else:
                entry = settings[name] = {"original": self.get(name), "users": {}}
            entry["users"][topology] = str(value)
            self._save(settings)
            self.set(name, str(value))

    def release(self, topology: str, name: str) -> None:
        with locked_dir(self.root):
            settings = self.load()
            entry = settings.get(name)
            if entry is None or topology not in entry["users"]:
                return
            del entry["users"][topology]
            # the value is put back before the ledger forgets this topology's hold: a write that fails
            # (or a run killed between the two) leaves the hold recorded, so the next `down` (or this
            # run's rollback) still knows the original value; saved first, a failed write lost it
            if not entry["users"]:
                del settings[name]
                if entry.get("original") is not None:
                    self.set(name, entry["original"])
                self._save(settings)
                return
            self.set(name, next(iter(entry["users"].values())))
            self._save(settings)

    def holders(self, name: str) -> dict[str, str]:
        return dict(self.load().get(name, {}).get("users", {}))
