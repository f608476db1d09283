"""Files the command line writes (``-o``, ``--html``, ``--save``, ``--out``, ``--graph``...).

Every verb opens them here, so that a folder that does not exist, a file
without write permission or a full disk ends the command with one line naming
the path and the reason -- ``memlens: error: cannot write /x/heap.html: No
such file or directory`` -- never a traceback.  Text files are UTF-8 with the
bytes that were not UTF-8 shown as ``\\xff`` (see :mod:`memlens.render.textout`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import IO, Any, BinaryIO, TextIO, cast

from memlens.errors import MemlensError
from memlens.render.textout import ESCAPE

#: errors of a write itself (the open succeeded): the disk, not the program
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


class OutputError(MemlensError):
    """A file the user asked for cannot be written.

    Attributes:
        path: the file (or folder) named on the command line.
        reason: the operating system's reason.
    """

    def __init__(self, path: str, reason: str, what: str = "write") -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"cannot {what} {path}: {reason}")


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


@contextmanager
def _opened(path: str, open_file: Callable[[], IO[Any]]) -> Iterator[IO[Any]]:
    """``open_file()`` for ``path``, its errors (and those of writes to it: a full disk)
    as one :class:`OutputError` naming the path."""
    try:
        f = open_file()
    except OSError as e:
        raise OutputError(path, _reason(e)) from None
    try:
        with f:
            yield f
    except OSError as e:
        if e.errno not in _WRITE_ERRORS or e.filename not in (None, path):
            raise
        raise OutputError(path, _reason(e)) from None


def output_text(path: str) -> AbstractContextManager[TextIO]:
    """``path`` opened for writing text.

    Raises:
        OutputError: it cannot be created, or a write to it fails (disk full...).
    """
    opened = _opened(path, lambda: open(path, "w", encoding="utf-8", errors=ESCAPE))  # noqa: SIM115
    return cast(AbstractContextManager[TextIO], opened)


def output_bytes(path: str) -> AbstractContextManager[BinaryIO]:
    """``path`` opened for writing bytes.

    Raises:
        OutputError: it cannot be created, or a write to it fails (disk full...).
    """
    return cast(AbstractContextManager[BinaryIO], _opened(path, lambda: open(path, "wb")))


def write_output(path: str, data: str | bytes) -> None:
    """Write ``data`` to ``path`` in one go.

    Raises:
        OutputError: as :func:`output_bytes`.
    """
    if isinstance(data, str):
        with output_text(path) as f:
            f.write(data)
    else:
        with output_bytes(path) as g:
            g.write(data)


def make_output_dir(path: str) -> None:
    """Create folder ``path`` (and its parents) unless it exists.

    Raises:
        OutputError: it cannot be created, or a file of that name is in the way.
    """
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise OutputError(path, _reason(e), "create folder") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(path, os.strerror(errno.EACCES), "write into")
