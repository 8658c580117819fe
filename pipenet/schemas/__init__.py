"""The JSON Schemas (draft 2020-12) of every `--json` document, shipped with the package.

Why: a script that reads `pipenet status --json` needs to know which fields it
can rely on, and to notice when they change. Each document carries
`"schema": "pipenet/COMMAND/vN"` (`pipenet.results.SCHEMA`); the file
`COMMAND.vN.json` beside this module describes exactly that version. A
change of a document's fields is a new version with a new file, never an
edit of a published one. docs/schemas/ holds the same files for readers of
the documentation (a test keeps them identical).
"""

from __future__ import annotations

import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))


def path(schema: str) -> str:
    """The file of a schema named as documents carry it: `pipenet/status/v1` -> .../status.v1.json
    (`pipenet/status-all/v1`, the document of `status --json` without a name: .../status-all.v1.json)."""
    parts = schema.split("/")
    if (len(parts) != 3 or parts[0] != "pipenet" or not re.fullmatch(r"[a-z]+(-[a-z]+)?", parts[1])
            or not re.fullmatch(r"v[0-9]+", parts[2])):
        raise ValueError(f"{schema!r} is not a pipenet schema name (pipenet/COMMAND/vN)")
    return os.path.join(HERE, f"{parts[1]}.{parts[2]}.json")


def load(schema: str) -> dict:
    """The JSON Schema of a document's `schema` value, as a dict (for jsonschema.validate, say)."""
    with open(path(schema), encoding="utf-8") as f:
        return json.load(f)
