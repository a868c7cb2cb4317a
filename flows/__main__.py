"""`python -m flows` runs the newswatch CLI (same as the `newswatch` console script)."""

from flows.cli import main

main()
