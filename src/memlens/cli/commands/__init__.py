"""One module per memlens verb; discovered by :func:`memlens.cli.main.discover`."""
