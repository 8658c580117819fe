"""`pipenet slice`: what a machine of a topology across machines runs for the coordinator.

Hidden from the help: people run `pipenet up FILE` on the coordinator, which
runs this on each machine (through ssh, or as a child process on its own).
The request is JSON on stdin (the topology travels there, never in the
command line ssh hands to a shell), the answer JSON on stdout; a failure is
reported on stderr as any command reports it, with the same exit status,
so the coordinator can quote its last line.
"""

from __future__ import annotations

import json
import sys

from pipenet.cli import output


def slice() -> None:  # noqa: A001 - the command's name
    from pipenet import api
    from pipenet.cli.glue import Exit, fail as _fail
    from pipenet.errors import PipenetError

    try:
        payload = json.loads(sys.stdin.readline())  # (more lines follow in a conversation)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
    except ValueError as e:
        output.message(f"pipenet slice: the request on stdin is not JSON ({e})")
        raise Exit(1)
    try:
        answer = api.run_slice(payload)
    except PipenetError as e:
        _fail(e)
    except (KeyError, TypeError, ValueError) as e:
        output.message(f"pipenet slice: a malformed request ({e!r})")
        raise Exit(1)
    sys.stdout.write(json.dumps(answer) + "\n")
