"""The rules a round is played and settled under, frozen when the round opens.

Pure (no database): settlement, statements and ``clock_verify`` all read rules through :class:`RoundRules`,
and a statement carries them as plain JSON (:meth:`RoundRules.as_public`, :meth:`RoundRules.from_public`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import time
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class RoundRules:
    participate_money: int  # stake, fen
    clock_start: time
    clock_end: time
    red_open: time
    service_ratio: Decimal
    lucky_num: int
    lucky_proportion: Decimal
    max_packet: int  # cap on one packet's bonus part, fen
    no_winner_policy: str

    @classmethod
    def of(cls, source: Any) -> RoundRules:
        """Rules read off anything with the same attribute names (a ``Round`` row, ``clock_settings``)."""
        return cls(**{name: getattr(source, name) for name in cls.__dataclass_fields__})

    def as_fields(self) -> dict[str, Any]:
        """Column values for a ``Round`` row."""
        return asdict(self)

    def as_public(self) -> dict[str, Any]:
        """JSON-safe form: times ``HH:MM:SS``, ratios as decimal strings, money as integer fen."""
        public = asdict(self)
        for name in ("clock_start", "clock_end", "red_open"):
            public[name] = public[name].isoformat(timespec="seconds")
        for name in ("service_ratio", "lucky_proportion"):
            public[name] = str(public[name])
        return public

    @classmethod
    def from_public(cls, data: dict[str, Any]) -> RoundRules:
        return cls(
            participate_money=int(data["participate_money"]),
            clock_start=time.fromisoformat(data["clock_start"]),
            clock_end=time.fromisoformat(data["clock_end"]),
            red_open=time.fromisoformat(data["red_open"]),
            service_ratio=Decimal(data["service_ratio"]),
            lucky_num=int(data["lucky_num"]),
            lucky_proportion=Decimal(data["lucky_proportion"]),
            max_packet=int(data["max_packet"]),
            no_winner_policy=str(data["no_winner_policy"]),
        )
