"""Renderers: every piece of output formatting lives here, not in analyses."""
