"""Committed, reproducible randomness — pure Python, small enough to re-implement in any language.

* A round's seed is 32 bytes from :mod:`secrets`, written as 64 lowercase hex characters; its commitment is
  ``seed_hash = sha256(seed_hex.encode("ascii")).hexdigest()``, public from the round's first order.
* :class:`SeededRandom` turns the seed into uniform integers with SHA-256 in counter mode: block ``i`` is
  ``sha256(f"{seed_hex}:{i}".encode("ascii"))`` (i = 0, 1, 2 …); each block yields four 64-bit big-endian
  words, consumed in order. ``below(n)`` draws a word ``w`` and rejects it while ``w >= 2**64 - 2**64 % n``
  (so the result ``w % n`` is exactly uniform).
* A participant's public pseudonym (statement format 2) is
  ``sha256(f"{seed_hex}:{clock_day}:{order_no}:{transaction_id}")`` as hex, computed and stored when the
  payment is recorded. Its inputs are not guessable — the order number carries ten random digits and the
  transaction id is the channel's — so, unlike format 1's ``sha256(seed:day:uid)`` over small integer uids,
  nobody can map statement lines back to users once the seed is revealed; a player finds their own line by
  the pseudonym their pages show (and can recompute it from their order and the revealed seed). It is fixed
  at payment, before anyone checks in, and the channel's transaction id is not the operator's to choose.
* Format 1 (rounds opened before format 2): ``sha256(f"{seed_hex}:{clock_day}:{uid}")``, computed by the
  database (``dbfunctions.Pseudonym``) to stream those statements in pseudonym order.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
from datetime import date

_WORD = 1 << 64


def draw_seed() -> str:
    return secrets.token_hex(32)


def seed_commitment(seed_hex: str) -> str:
    return hashlib.sha256(seed_hex.encode("ascii")).hexdigest()


def pseudonym(seed_hex: str, clock_day: date, order_no: str, transaction_id: str) -> str:
    """A participation's 64-hex-character name in round ``clock_day``'s statement (format 2)."""
    text = f"{seed_hex}:{clock_day.isoformat()}:{order_no}:{transaction_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pseudonym_v1(seed_hex: str, clock_day: date, uid: int) -> str:
    """``uid``'s name in a format-1 statement (rounds opened before format 2)."""
    return hashlib.sha256(f"{seed_hex}:{clock_day.isoformat()}:{uid}".encode("ascii")).hexdigest()


class SeededRandom:
    """Deterministic uniform integers from a seed (see the module docstring for the exact construction).

    Blocks are hashed ``BLOCKS`` at a time and unpacked with one ``struct`` call: a million-winner split draws
    two million words, and the per-word cost is what settlement's split spends its time on. Hashing ahead does
    not change the stream (block ``i`` depends on ``i`` only)."""

    BLOCKS = 256

    def __init__(self, seed_hex: str) -> None:
        self._prefix = seed_hex.encode("ascii") + b":"
        self._block = 0
        self._words: list[int] = []  # the next words, last one first (pop() hands them out in order)
        self._unpack = struct.Struct(f">{4 * self.BLOCKS}Q").unpack

    def _refill(self) -> list[int]:
        prefix, first = self._prefix, self._block
        sha256 = hashlib.sha256
        data = b"".join([sha256(prefix + b"%d" % i).digest() for i in range(first, first + self.BLOCKS)])
        self._block = first + self.BLOCKS
        words = self._words  # empty: refilled in place, so a caller's reference stays valid
        words.extend(self._unpack(data))
        words.reverse()
        return words

    def below(self, n: int) -> int:
        """A uniform integer in ``[0, n)``."""
        if not 0 < n <= _WORD:
            raise ValueError(f"below() needs 0 < n <= 2**64, got {n}")
        limit = _WORD - _WORD % n
        words = self._words
        while True:
            word = words.pop() if words else self._refill().pop()
            if word < limit:
                return word % n
