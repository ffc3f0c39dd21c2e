"""`python -m presence` is the `presence` command."""

from presence.cli import main

main()
