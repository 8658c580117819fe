"""pipenet: declarative, transactional Linux networks from a topology file.

Use it from Python (docs/api.md):

    import pipenet

    with pipenet.up("lab.pn", sandbox=True) as lab:
        assert lab.exec("h1", ["ping", "-c1", "10.0.0.2"]).returncode == 0
        assert lab.test().ok

The package is laid out as the pipeline it implements (see docs/how-it-works.md):
``lang`` (text -> IR), ``validate`` (IR -> diagnostics), ``allocate``
(addresses and MACs), then the planner, engine and backends; ``api`` is the
library, and ``cli`` renders it. The names below are loaded on first use, so
that the command line, which imports this package, starts fast.
"""

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "load": "pipenet.api", "up": "pipenet.api", "Lab": "pipenet.api", "lab_named": "pipenet.api",
    "names_up": "pipenet.api", "nodes_up": "pipenet.api", "check": "pipenet.api", "format_file": "pipenet.api",
    "import_clab": "pipenet.api", "export": "pipenet.api",
    "PipenetError": "pipenet.errors", "InvalidTopology": "pipenet.errors", "UsageError": "pipenet.errors",
    "Conflict": "pipenet.errors", "ApplyFailed": "pipenet.errors", "Leftovers": "pipenet.errors",
    "UnsupportedByKernel": "pipenet.errors", "CorruptState": "pipenet.errors",
    "Plan": "pipenet.results", "PlanStep": "pipenet.results", "Change": "pipenet.results",
    "Status": "pipenet.results", "Check": "pipenet.results", "TestReport": "pipenet.results",
    "LabInfo": "pipenet.results", "CheckReport": "pipenet.results", "Conversion": "pipenet.results",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipenet' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
