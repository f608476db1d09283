"""``python -m memlens``: the same as the ``memlens`` command."""

from memlens.cli.main import entry

entry()
