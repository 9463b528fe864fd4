"""`python -m atlas` runs the CLI."""

from atlas.launch import main

main()
