"""The command line: `dispatch` (the entry point), `app` (the typer definition), `commands` (what each does),
`output` (where the words go)."""
