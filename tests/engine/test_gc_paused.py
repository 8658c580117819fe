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

from pipenet import gcpause
from pipenet.gcpause import gc_paused, paused, paused_to_the_end

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


def test_a_command_of_the_program_leaves_the_collector_off_when_its_process_ends_with_it(monkeypatch):
    monkeypatch.setattr(gcpause, "_LEAVING", False)  # (put back after: the command sets it)
    seen = []

    @paused_to_the_end
    def command():
        seen.append(gc.isenabled())

    try:
        command()  # (called as a library would: resumed after)
        assert seen == [False] and gc.isenabled()
        monkeypatch.setattr(gcpause, "ENDS_WITH_COMMAND", True)  # (what `pipenet`'s own entry point sets)
        command()
        assert seen == [False, False]
        assert not gc.isenabled()  # (the process ends now: no pass over what the command made)
    finally:
        gc.enable()


def test_the_cli_commands_up_down_and_plan_are_paused_to_the_end(monkeypatch):
    from pipenet.cli import commands

    monkeypatch.setattr(gcpause, "ENDS_WITH_COMMAND", True)
    monkeypatch.setattr(gcpause, "_LEAVING", False)  # (put back after: the commands set it)
    for fn in (commands.up, commands.down, commands.plan):
        seen = []
        monkeypatch.setattr(commands, "lab_of", lambda *a, **kw: seen.append(gc.isenabled()) or 1 / 0)
        monkeypatch.setattr(commands, "call", lambda f: seen.append(gc.isenabled()) or 1 / 0)
        try:
            with pytest.raises(ZeroDivisionError):
                fn("x.pn")
            assert seen == [False], fn.__name__
        finally:
            gc.enable()


def test_the_program_says_its_process_ends_with_its_command():
    import subprocess
    import sys

    code = ("import pipenet.cli.dispatch as d, pipenet.gcpause as g, sys\n"
            "d.main = lambda: print(g.ENDS_WITH_COMMAND)\n"
            "print(g.ENDS_WITH_COMMAND)\n"
            "d.run()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_keep_holds_only_in_a_command_whose_process_ends_with_it(monkeypatch):
    import weakref

    class Big:
        pass

    monkeypatch.setattr(gcpause, "_KEPT", [])
    a = Big()
    ref = weakref.ref(a)
    gcpause.keep(a)
    del a
    assert ref() is None  # (a library's caller or a test: nothing held)
    monkeypatch.setattr(gcpause, "_LEAVING", True)
    b = Big()
    ref = weakref.ref(b)
    gcpause.keep(b)
    del b
    assert ref() is not None  # (held for the exit to free)


def test_the_kernel_is_closed_unless_kept_by_a_command_that_ends_its_process(monkeypatch):
    from pipenet import api

    closed = []
    monkeypatch.setattr(api._Kernel, "close", lambda self: closed.append(1))
    monkeypatch.setattr(gcpause, "_KEPT", [])
    with api.kernel() as k:
        gcpause.keep(k)  # (a library's caller or a test: nothing is kept)
    assert closed == [1]
    monkeypatch.setattr(gcpause, "_LEAVING", True)
    with api.kernel():
        pass  # (the no-op's check that found a change: the full `up` opens another kernel)
    assert closed == [1, 1]
    with api.kernel() as k:
        gcpause.keep(k)
    assert closed == [1, 1]  # (the exit closes its sockets and descriptors at once)


def test_a_command_paused_to_the_end_is_leaving(monkeypatch):
    monkeypatch.setattr(gcpause, "_LEAVING", False)
    seen = []

    @paused_to_the_end
    def command():
        seen.append(gcpause.leaving())

    try:
        command()
        monkeypatch.setattr(gcpause, "ENDS_WITH_COMMAND", True)
        command()
    finally:
        gc.enable()
    assert seen == [False, True]
