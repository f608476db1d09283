"""The memlens command line: one module per verb under ``memlens.cli.commands``."""
