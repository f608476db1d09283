"""A base for small immutable value classes that need no :mod:`dataclasses`.

Importing dataclasses (with the inspect, ast and dis it loads) costs ~6 ms of
a command's start, and ``memlens maps PID`` has ~15 ms of its own to stay
within 1.5x of ``pmap -X`` (benchmarks/bench_live.py): the value types on its
path (:class:`~memlens.core.region.Region`, ``Perms``, the smaps ``Usage``,
the table of :mod:`memlens.render.table`) derive from :class:`Frozen` instead.
A subclass lists its fields in ``__slots__`` and sets them in ``__init__``
with ``object.__setattr__``.
"""

from __future__ import annotations


class Frozen:
    """Immutable value: fields set once in ``__init__``, compared and hashed as a tuple."""

    __slots__ = ()

    def _names(self) -> tuple[str, ...]:
        return type(self).__slots__  # a subclass's: its fields, in order

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._names())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frozen) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._names())
        return f"{type(self).__name__}({inner})"

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return (type(self), self._fields())
