"""`python -m guard`: the same command line as the `guard` entry point (no logic here)."""

from guard.operator.cli import main

main()
