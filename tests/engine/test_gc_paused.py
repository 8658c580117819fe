"""`up`, `down` and `plan` run with Python's cyclic garbage collector paused, on the recording kernel.

At 4,000 containers the collector's full passes, each rescanning every object the command has made
(the record's JSON, the plan, the journal's header, the live reads), cost `down` 83 ms and `up` 191 ms
for a few hundred objects found in cycles (docs/performance.md, the eighth pass). These tests pin the
pause where it pays: in the engine's stages themselves, for the library's callers and the CLI's.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

import pytest

from pipenet.gcpause import gc_paused, paused

TOPOLOGY = """topology gcp
bridge br0 { address 10.64.0.1/24 }
container a { net br0 }
container b { net br0 }
"""


def test_paused_pauses_and_resumes_and_nests():
    seen = []

    @paused
    def inner():
        seen.append(gc.isenabled())

    @paused
    def outer():
        inner()
        seen.append(gc.isenabled())  # (the inner pause did not resume the outer's)

    assert gc.isenabled()
    outer()
    assert seen == [False, False]
    assert gc.isenabled()
    with gc_paused():
        outer()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_paused_resumes_after_an_exception():
    @paused
    def fails():
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fails()
    assert gc.isenabled()


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A lab of the library on the recording kernel, its state in a directory of the test's."""
    from pipenet import api
    from pipenet.backends.recording import RecordingKernel

    monkeypatch.setenv("PIPENET_STATE_DIR", str(tmp_path / "state"))
    k = RecordingKernel()

    @contextmanager
    def recording():
        yield k

    monkeypatch.setattr(api, "kernel", recording)
    monkeypatch.setattr(api, "need_root", lambda *a, **kw: None)
    path = tmp_path / "gcp.pn"
    path.write_text(TOPOLOGY)
    return api.Lab(path=path)


def _spy(monkeypatch, module, name, seen):
    real = getattr(module, name)

    def spy(*args, **kwargs):
        seen.append((name, gc.isenabled()))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)


def test_up_plan_and_down_run_their_stages_with_the_collector_paused(lab, monkeypatch):
    from pipenet.engine import session

    seen: list = []
    for name in ("up", "down", "prepare"):
        _spy(monkeypatch, session, name, seen)
    change = lab.up()
    assert change.steps, "the topology was made"
    with open(lab.path, "a") as f:
        f.write("container c { net br0 }\n")  # (an unchanged file's plan is answered from its digest)
    assert type(lab)(path=lab.path).plan().steps
    lab.down()
    assert [n for n, _ in seen] == ["up", "prepare", "prepare", "down"]
    assert not any(enabled for _, enabled in seen), seen
    assert gc.isenabled()  # (resumed once each returned)


def test_the_cli_commands_are_paused_for_their_summary_too():
    from pipenet.cli import commands

    for fn in (commands.up, commands.down, commands.plan):
        assert getattr(fn, "__wrapped__", None) is not None, fn.__name__
