"""One kernel interface (`pipenet.backends.protocol.KernelAPI`): the real kernel and the recording one
both satisfy it, method for method and parameter for parameter, and nothing above the backends calls a
kernel method the protocol does not declare."""

from __future__ import annotations

import ast
import inspect
import os

import pytest

from pipenet.backends import protocol
from pipenet.backends.kernel import Kernel
from pipenet.backends.recording import RecordingKernel

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def declared() -> dict[str, inspect.Signature]:
    out = {}
    for concern in protocol.CONCERNS:
        for name, fn in vars(concern).items():
            if callable(fn) and not name.startswith("_"):
                assert name not in out, f"{name} is declared by two concerns"
                out[name] = inspect.signature(fn)
    return out


def _params(sig: inspect.Signature) -> list[tuple[str, object, bool]]:
    """(name, kind, has a default) of each parameter but self."""
    return [(p.name, p.kind, p.default is not inspect.Parameter.empty) for p in sig.parameters.values()
            if p.name != "self"]


@pytest.mark.parametrize("backend", [Kernel, RecordingKernel], ids=["Kernel", "RecordingKernel"])
def test_each_backend_has_every_method_with_the_same_parameters(backend):
    missing, different = [], []
    for name, sig in declared().items():
        impl = getattr(backend, name, None)
        if impl is None:
            missing.append(name)
            continue
        if _params(inspect.signature(impl)) != _params(sig):
            different.append(f"{name}{inspect.signature(impl)} != {name}{sig}")
    assert not missing and not different, (missing, different)


def test_a_backend_instance_is_a_kernel_api():
    k = RecordingKernel()
    assert isinstance(k, protocol.KernelAPI)
    assert not isinstance(object(), protocol.KernelAPI)


def _kernel_calls(path: str) -> set[str]:
    """Attributes read from a kernel in a module: on names the code gives kernels (`k`, `kernel`,
    `self.k`, `self.kernel`)."""
    tree = ast.parse(open(path).read())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            v = node.value
            if isinstance(v, ast.Name) and v.id in ("k", "kernel"):
                out.add(node.attr)
            elif (isinstance(v, ast.Attribute) and v.attr in ("k", "kernel") and isinstance(v.value, ast.Name)
                  and v.value.id == "self"):
                out.add(node.attr)
    return out


def test_nothing_above_the_backends_reaches_past_the_protocol():
    allowed = set(declared())
    offenders = []
    for top in ("engine", "plan", "expect", "validate", "cli", "sandbox"):
        for dirpath, _, files in os.walk(os.path.join(REPO, "pipenet", top)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(dirpath, f)
                    for attr in sorted(_kernel_calls(path) - allowed):
                        offenders.append(f"{os.path.relpath(path, REPO)}: k.{attr}")
    for f in ("api.py",):
        for attr in sorted(_kernel_calls(os.path.join(REPO, "pipenet", f)) - allowed):
            offenders.append(f"pipenet/{f}: k.{attr}")
    assert offenders == []


def test_the_check_itself_catches_a_reach_past(tmp_path):
    """(the scan above would see `k.ns.root` and `self.k.nl`)"""
    path = tmp_path / "m.py"
    path.write_text("def f(k):\n    return k.ns.root\nclass A:\n    def g(self):\n        return self.k.nl\n")
    assert _kernel_calls(str(path)) == {"ns", "nl"}
