"""Human-readable sizes and addresses."""

from __future__ import annotations


def human_size(n: int) -> str:
    """Binary units, 3 significant digits: ``4.0K``, ``132K``, ``1.5M``."""
    value = float(n)
    for unit in ("", "K", "M", "G", "T", "P"):
        if abs(value) < 1024 or unit == "P":
            if unit == "":
                return f"{int(value)}"
            return f"{value:.1f}{unit}" if abs(value) < 10 else f"{value:.0f}{unit}"
        value /= 1024
    return f"{n}"


def hex_address(addr: int, word_size: int = 8) -> str:
    return f"{addr:0{word_size * 2}x}"
