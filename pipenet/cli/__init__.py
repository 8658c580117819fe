"""The command line: typer commands that call the pipeline's stages and format their results."""
