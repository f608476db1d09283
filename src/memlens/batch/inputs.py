"""The inputs of a batch: files, folders (recursive) and globs; their content keys;
and compressed inputs opened without unpacking to disk."""

from __future__ import annotations

import bz2
import glob
import gzip
import hashlib
import lzma
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, cast

from memlens.errors import FormatError, UsageError

#: compressed input suffix -> opener of a decompressing binary stream
_DECOMPRESSORS: dict[str, Callable[[str], IO[bytes]]] = {
    ".gz": lambda p: cast(IO[bytes], gzip.open(p, "rb")),  # noqa: SIM115 (the caller closes)
    ".bz2": lambda p: bz2.open(p, "rb"),  # noqa: SIM115
    ".xz": lambda p: lzma.open(p, "rb"),  # noqa: SIM115
}
_ZSTD = ".zst"
_CHUNK = 1 << 20


def expand(patterns: Sequence[str]) -> list[str]:
    """Every input file named by ``patterns`` (files, folders walked recursively,
    globs), sorted and without repeats.

    Raises:
        UsageError: a pattern names nothing.
    """
    found: set[str] = set()
    for pattern in patterns:
        names = glob.glob(pattern, recursive=True) if glob.has_magic(pattern) else [pattern]
        if not names or not any(os.path.exists(n) for n in names):
            raise UsageError(f"{pattern}: no such file or folder")
        for name in names:
            if os.path.isdir(name):
                for root, _dirs, files in os.walk(name):
                    found.update(os.path.join(root, f) for f in files)
            elif os.path.isfile(name):
                found.add(name)
    return sorted(os.path.abspath(f) for f in found)


def content_key(path: str) -> str:
    """A key for the input's content (BLAKE2b, 128 bits, of its bytes as stored):
    the same file under another name or on another host has the same key.

    Raises:
        FormatError: the file cannot be read.
    """
    h = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None
    return h.hexdigest()


def compression_of(path: str) -> str | None:
    """The compression suffix of ``path`` (``.gz``, ``.bz2``, ``.xz``, ``.zst``), if any."""
    suffix = os.path.splitext(path)[1].lower()
    return suffix if suffix in _DECOMPRESSORS or suffix == _ZSTD else None


def _decompressed(path: str, suffix: str) -> IO[bytes]:
    if suffix == _ZSTD:
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return _DECOMPRESSORS[suffix](path)


@contextmanager
def readable_path(path: str, limit: int) -> Iterator[str]:
    """A path the readers can open for ``path``: itself, or for a compressed input
    an in-memory file (``memfd``) filled by streaming decompression, never a file on disk.

    Raises:
        FormatError: the input is corrupt, or decompresses to more than ``limit`` bytes.
    """
    suffix = compression_of(path)
    if suffix is None:
        yield path
        return
    fd = os.memfd_create(os.path.basename(path), os.MFD_CLOEXEC)
    try:
        total = 0
        try:
            with _decompressed(path, suffix) as stream:
                while chunk := stream.read(_CHUNK):
                    total += len(chunk)
                    if total > limit:
                        raise FormatError(path, None, f"decompresses to more than {limit} bytes")
                    os.write(fd, chunk)
        except (OSError, EOFError, lzma.LZMAError, ValueError) as e:
            raise FormatError(path, total, f"cannot decompress: {e}") from None
        except Exception as e:  # zstandard.ZstdError has no common base with the others
            if type(e).__module__.startswith("zstandard"):
                raise FormatError(path, total, f"cannot decompress: {e}") from None
            raise
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)
