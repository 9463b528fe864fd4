"""`python -m atlas` runs the CLI."""

from atlas.cli import main

main()
