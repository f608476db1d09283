"""Text output that never fails on a name: bytes that are not UTF-8 print as ``\\xff``.

Paths, region names and symbols read from a target are decoded with
``surrogateescape``, so a byte that is not UTF-8 is held as a lone surrogate
(``0xff`` -> ``U+DCFF``).  Encoding one for the terminal raises
UnicodeEncodeError; the ``memlens-escape`` error handler writes it as the four
characters ``\\xff`` instead (and a character the stream's encoding lacks as
``\\u00e9``).  :func:`setup_streams` installs it on stdout and stderr; a
renderer that encodes by itself passes ``errors=ESCAPE``.
"""

from __future__ import annotations

import codecs
import io
import sys

ESCAPE = "memlens-escape"


def escape_char(ch: str) -> str:
    """How one character that cannot be encoded is shown."""
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for byte (code - 0xDC00)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _handler(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(escape_char(c) for c in bad), error.end


codecs.register_error(ESCAPE, _handler)


def escape_text(text: str, encoding: str = "utf-8") -> str:
    """``text`` as it will print: characters ``encoding`` lacks escaped."""
    if text.isascii():
        return text
    return text.encode(encoding, ESCAPE).decode(encoding)


def setup_streams() -> None:
    """Make stdout and stderr escape what they cannot encode instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors != ESCAPE:
            # a closed or detached stream: nothing will be printed on it
            # (try, not contextlib.suppress: importing contextlib is ~0.5 ms of every start)
            try:  # noqa: SIM105
                stream.reconfigure(errors=ESCAPE)
            except (ValueError, io.UnsupportedOperation):
                pass
