"""PNG from SVG through ``rsvg-convert`` (Debian librsvg2-bin; a small C tool,
measured faster than going through a browser or ImageMagick)."""

from __future__ import annotations

import shutil
import subprocess

from memlens.errors import MemlensError, ToolMissingError


def svg_to_png(svg: str) -> bytes:
    """Rasterise ``svg``.

    Raises:
        ToolMissingError: rsvg-convert is not installed.
        MemlensError: it failed.
    """
    tool = shutil.which("rsvg-convert")
    if tool is None:
        raise ToolMissingError("rsvg-convert", "install librsvg2-bin, or write .svg instead")
    try:
        proc = subprocess.run([tool, "--format=png"], input=svg.encode(), capture_output=True,
                              timeout=300, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MemlensError(f"rsvg-convert failed: {e}") from None
    if proc.returncode != 0:
        raise MemlensError(f"rsvg-convert failed: {proc.stderr.decode(errors='replace')[:300]}")
    return proc.stdout
