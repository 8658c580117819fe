"""Run pipenet's command line with a fault installed at one of its fault points (tests only).

    python -m tests.faultrun [--fail-step N] [--fail-undo N] [--kill-step N] [--kill-nth K]
                             [--enospc-nth K] [--count FILE] -- ARGS...

The only way to reach `pipenet.faults.install`: production pipenet reads no
environment variable for it. Points (see pipenet/faults.py) are counted in
the order they are hit:

- --fail-step N: step N fails as if the kernel refused it (rollback follows);
- --fail-undo N: undoing step N fails too (exit 3, with `left:` lines);
- --kill-step N: SIGKILL just after step N's journal entry, before the kernel change;
- --kill-nth K: SIGKILL at the K-th point of any kind (every write, every step);
- --kill-point TEXT: SIGKILL at the first point whose "name detail" contains TEXT
  (say "unlink /run/pipenet/t/journal.jsonl");
- --enospc-nth K: the K-th `write` point fails with ENOSPC (a disk that fills up there);
- --count FILE: write the list of points hit, as JSON, to FILE when the command ends.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import json
import os
import signal
import sys


def main() -> None:
    ap = argparse.ArgumentParser(prog="faultrun")
    ap.add_argument("--fail-step", type=int)
    ap.add_argument("--fail-undo", type=int)
    ap.add_argument("--kill-step", type=int)
    ap.add_argument("--kill-nth", type=int)
    ap.add_argument("--kill-point")
    ap.add_argument("--enospc-nth", type=int)
    ap.add_argument("--count")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    opts = ap.parse_args()
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    from pipenet import faults

    seen: list[list] = []
    writes = [0]

    def hook(name, detail):
        seen.append([name, detail if isinstance(detail, (int, str)) else str(detail)])
        if opts.kill_nth is not None and len(seen) == opts.kill_nth:
            os.kill(os.getpid(), signal.SIGKILL)
        if opts.kill_point is not None and opts.kill_point in f"{name} {detail}":
            os.kill(os.getpid(), signal.SIGKILL)
        if name == "write":
            writes[0] += 1
            if opts.enospc_nth is not None and writes[0] == opts.enospc_nth:
                raise OSError(errno.ENOSPC, "No space left on device (injected)")
        if name == "step" and detail == opts.kill_step:
            os.kill(os.getpid(), signal.SIGKILL)
        if name == "step" and detail == opts.fail_step:
            raise faults.InjectedFault(name, detail)
        if name == "undo" and detail == opts.fail_undo:
            raise faults.InjectedFault(name, detail)

    faults.install(hook)
    if opts.count:
        def dump():
            with open(opts.count, "w") as f:
                json.dump(seen, f)

        atexit.register(dump)
    sys.argv = ["pipenet", *args]
    from pipenet.cli.dispatch import main as pipenet_main

    pipenet_main()


if __name__ == "__main__":
    main()
