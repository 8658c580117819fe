"""The machines most tests across machines use: three, each with its sshd (tests/machines.py)."""

from __future__ import annotations

import pytest

from tests.machines import Machines


@pytest.fixture
def three(tmp_path):
    ms = Machines(tmp_path, 3)
    try:
        yield ms
    finally:
        ms.close()
