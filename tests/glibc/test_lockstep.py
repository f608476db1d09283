"""The many-walker chunk walk gives exactly the sequential walk's positions.

Heaps are built here from random chunk sizes with user data full of fake
headers (sizes that would lead a walker astray), with and without damage.
"""

from __future__ import annotations

import numpy as np
import pytest

from memlens.glibc import lockstep
from memlens.glibc.chunks import _positions


def _heap(seed: int, chunks: int, fake: float, damage: str | None,
          word: int = 8) -> np.ndarray:  # fmt: skip
    rng = np.random.default_rng(seed)
    sizes = rng.choice([32, 48, 64, 96, 144, 1040, 4112], size=chunks,
                       p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.07, 0.03])  # fmt: skip
    dtype = np.uint64 if word == 8 else np.uint32
    words = np.zeros(int(sizes.sum()) // word + 4, dtype)
    at = 0
    for s in sizes.tolist():
        words[at + 1] = s | 1
        body = s // word - 2
        if body > 0:
            fill = rng.integers(0, 1 << (8 * word - 2), size=body, dtype=dtype)
            fakes = rng.random(body) < fake
            fill[fakes] = rng.choice([32, 48, 33, 0x41, 160, 0], size=int(fakes.sum()))
            words[at + 2:at + 2 + body] = fill
        at += s // word
    if damage == "zero":
        words[len(words) // 2 | 1] = 0
    elif damage == "huge":
        words[len(words) // 3 | 1] = 1 << 40
    return words


@pytest.mark.parametrize("damage", [None, "zero", "huge"])
@pytest.mark.parametrize("seed", range(4))
def test_same_as_sequential(monkeypatch: pytest.MonkeyPatch, seed: int, damage: str | None) -> None:
    monkeypatch.setattr(lockstep, "SEGMENT", 256)
    monkeypatch.setattr(lockstep, "OVERLAP", 32)
    words = _heap(seed, 3000, 0.3, damage)
    expected = np.frombuffer(_positions(memoryview(words.data).cast("B").cast("Q"), 8), np.int64)
    got = lockstep.positions_lockstep(words, 0, 8, 16)
    assert np.array_equal(got, expected)


def test_same_as_sequential_32bit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockstep, "SEGMENT", 512)
    words = _heap(7, 2000, 0.2, None, word=4)
    expected = np.frombuffer(_positions(memoryview(words.data).cast("B").cast("I"), 4), np.int64)
    assert np.array_equal(lockstep.positions_lockstep(words, 0, 4, 16), expected)
