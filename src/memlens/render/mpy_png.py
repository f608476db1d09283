"""PNG from SVG through ``rsvg-convert`` (Debian librsvg2-bin; a small C tool,
measured faster than going through a browser or ImageMagick)."""

from __future__ import annotations

from memlens.render.mpy_dot import pipe_through


def svg_to_png(svg: str) -> bytes:
    """Rasterise ``svg``.

    Raises:
        ToolMissingError: rsvg-convert is not installed.
        MemlensError: it failed.
    """
    hint = "install librsvg2-bin, or write .svg instead"
    return pipe_through("rsvg-convert", ["--format=png"], svg.encode(), hint)
