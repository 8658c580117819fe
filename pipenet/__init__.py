"""pipenet: declarative, transactional Linux networks from a topology file.

The package is laid out as the pipeline it implements (see docs/how-it-works.md):
``lang`` (text -> IR), ``validate`` (IR -> diagnostics), ``allocate``
(addresses and MACs), then the planner, engine and backends, and ``cli`` on top.
"""

__version__ = "0.1.0"
