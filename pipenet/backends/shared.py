"""Host settings shared by several topologies: IPv4 forwarding.

The first topology that needs forwarding records the host's earlier value
and turns it on; each later one adds itself to the list of users; the last
to go down restores the earlier value. The record is a small JSON file in the
state root, changed under a lock, so concurrent runs agree.
"""

from __future__ import annotations

import json
import os

from pipenet.fsutil import locked_dir, write_atomic


class SharedForwarding:
    def __init__(self, root: str, get, set_):
        self.root = root
        self.path = os.path.join(root, ".forwarding.json")
        self.get, self.set = get, set_

    def _locked(self):
        return locked_dir(self.root)

    def _load(self) -> dict:
        try:
            with open(self.path) as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return {"saved": None, "users": []}

    def acquire(self, topology: str) -> None:
        with self._locked():
            st = self._load()
            if not st["users"]:
                st["saved"] = self.get()
            if topology not in st["users"]:
                st["users"].append(topology)
            write_atomic(self.path, json.dumps(st).encode(), 0o600)
            self.set("1")

    def release(self, topology: str) -> None:
        with self._locked():
            st = self._load()
            if topology in st["users"]:
                st["users"].remove(topology)
            if not st["users"]:
                if st.get("saved") is not None:
                    self.set(st["saved"])
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
            else:
                write_atomic(self.path, json.dumps(st).encode(), 0o600)
