"""``python -m sslterm`` runs the command-line interface."""

from sslterm.cli import main

main()
