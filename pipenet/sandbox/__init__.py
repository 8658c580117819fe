"""Private namespaces for whole topologies (`--sandbox`) and for the test suite."""
