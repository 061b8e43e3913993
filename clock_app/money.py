"""Integer fen and the yuan strings people and channels read. Arithmetic never leaves integers: a yuan string
exists only at the edge (display, the wire of a channel that counts in yuan, such as Alipay and bills)."""

from __future__ import annotations

import re

_YUAN = re.compile(r"([+-]?)(0|[1-9][0-9]*)(?:\.([0-9]{1,2}))?")


def yuan(fen: int) -> str:
    """``1234`` → ``"12.34"``; exact for any integer (no float on the way)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"


def fen(text: str) -> int:
    """A yuan string as channels write it (``"12.34"``, ``"-20.00"``, ``"+1.5"``, ``"3"``) → integer fen,
    exactly; ``ValueError`` for anything else (a third decimal, an exponent, a comma), never a rounded guess."""
    match = _YUAN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not a yuan amount: {text!r}")
    sign, whole, cents = match.groups()
    value = int(whole) * 100 + int((cents or "0").ljust(2, "0"))
    return -value if sign == "-" else value
