"""Committed, reproducible randomness — pure Python, small enough to re-implement in any language.

* A round's seed is 32 bytes from :mod:`secrets`, written as 64 lowercase hex characters; its commitment is
  ``seed_hash = sha256(seed_hex.encode("ascii")).hexdigest()``, public from the round's first order.
* :class:`SeededRandom` turns the seed into uniform integers with SHA-256 in counter mode: block ``i`` is
  ``sha256(f"{seed_hex}:{i}".encode("ascii"))`` (i = 0, 1, 2 …); each block yields four 64-bit big-endian
  words, consumed in order. ``below(n)`` draws a word ``w`` and rejects it while ``w >= 2**64 - 2**64 % n``
  (so the result ``w % n`` is exactly uniform).
* A winner's public pseudonym is ``sha256(f"{seed_hex}:{clock_day}:{uid}")`` as hex (``clock_day`` as
  ``YYYY-MM-DD``): keyed by the secret seed, so nobody can map lines to users before the reveal or guess other
  users' lines after it, while anyone who knows their own uid can find their line once the seed is revealed.
  The database computes the same value (``dbfunctions.Pseudonym``) to stream statements in pseudonym order.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date

_WORD = 1 << 64


def draw_seed() -> str:
    return secrets.token_hex(32)


def seed_commitment(seed_hex: str) -> str:
    return hashlib.sha256(seed_hex.encode("ascii")).hexdigest()


def pseudonym(seed_hex: str, clock_day: date, uid: int) -> str:
    """``uid``'s 64-hex-character name in round ``clock_day``'s statement."""
    return hashlib.sha256(f"{seed_hex}:{clock_day.isoformat()}:{uid}".encode("ascii")).hexdigest()


class SeededRandom:
    """Deterministic uniform integers from a seed (see the module docstring for the exact construction)."""

    def __init__(self, seed_hex: str) -> None:
        self._prefix = seed_hex.encode("ascii") + b":"
        self._block = 0
        self._words: list[int] = []

    def _next_word(self) -> int:
        if not self._words:
            digest = hashlib.sha256(self._prefix + str(self._block).encode("ascii")).digest()
            self._block += 1
            # Reversed so that pop() hands out the words in order.
            self._words = [int.from_bytes(digest[i : i + 8], "big") for i in (24, 16, 8, 0)]
        return self._words.pop()

    def below(self, n: int) -> int:
        """A uniform integer in ``[0, n)``."""
        if not 0 < n <= _WORD:
            raise ValueError(f"below() needs 0 < n <= 2**64, got {n}")
        limit = _WORD - _WORD % n
        while True:
            word = self._next_word()
            if word < limit:
                return word % n
