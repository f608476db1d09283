"""Symbols: module maps, the symbolizer chain, demangling.  Built on sources; below analyses."""
