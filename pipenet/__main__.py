"""`python -m pipenet` is the same as the `pipenet` console script."""

from pipenet.cli.app import main

main()
