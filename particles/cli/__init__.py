"""The ``particles`` command: the only place that parses argv, prints for humans and
chooses exit codes (0 done, 1 failed run, 2 bad input, 130 interrupted).

:mod:`~particles.cli.main` holds the parser and the commands, :mod:`~particles.cli.text`
the human-readable summaries and the progress line. The console script is
``particles.cli:main``; ``python -m particles.cli`` runs the same.
"""
from .main import COMMANDS, DEFAULT_CONFIG, UsageError, entry, main

__all__ = ["COMMANDS", "DEFAULT_CONFIG", "UsageError", "entry", "main"]
