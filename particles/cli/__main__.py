"""``python -m particles.cli``: the ``particles`` command."""
from .main import entry

entry()
