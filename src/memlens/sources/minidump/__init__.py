"""Minidump reader (Windows, Breakpad, Crashpad): see :mod:`memlens.sources.minidump.reader`."""
