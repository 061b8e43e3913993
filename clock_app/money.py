"""Formatting of integer fen for people. Arithmetic never leaves integers; only display shows yuan."""

from __future__ import annotations


def yuan(fen: int) -> str:
    """``1234`` → ``"12.34"``; exact for any integer (no float on the way)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"
