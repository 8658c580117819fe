"""`python -m pipenet` is the same as the `pipenet` console script."""

from pipenet.cli.dispatch import run

run()
