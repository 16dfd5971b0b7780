"""`python -m cli`: the `viraltracker` command."""

from cli import main

main()
