"""The engine: state records, the journal, the executor, and the commands' orchestration."""
