"""``python -m zenopt`` runs the command-line tool."""

from zenopt.cli.app import main

main()
