"""A round's winners in the documented order (ascending pseudonym), held in flat arrays.

Settlement assigns packet ``i`` to the ``i``-th winner of this order; the statement lists winners in it;
the audit and ``clock_verify`` rely on it. The database sorts (``ORDER BY`` the stored pseudonym, or for a
format-1 round the one it computes), so a million winners cost three ``array('q')`` and one ``bytearray`` of
32-byte pseudonyms — 56 bytes a winner — and no model instances or dicts.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from typing import Any

from .dbfunctions import InByteOrder, Pseudonym
from .models import ClockStatus, Participation

CHUNK = 20_000


def winners_in_order(the_round: Any):
    """The round's winners as a queryset ordered by pseudonym, annotated ``public_name`` (its hex)."""
    winners = Participation.objects.filter(clock_day=the_round.clock_day, clock_status=ClockStatus.CLOCKED_IN)
    if the_round.statement_version == 1:
        name = Pseudonym(the_round.split_seed, the_round.clock_day)
    else:
        name = InByteOrder("pseudonym")
    return winners.annotate(public_name=name).order_by("public_name")


class Winners:
    def __init__(self) -> None:
        self.ids, self.stakes, self.packets = array("q"), array("q"), array("q")
        self._names = bytearray()

    @classmethod
    def load(cls, the_round: Any) -> Winners:
        winners = cls()
        rows = winners_in_order(the_round).values_list("id", "public_name", "order_money", "red_money")
        for pk, name, stake, packet in rows.iterator(chunk_size=CHUNK):
            winners.ids.append(pk)
            winners._names += bytes.fromhex(name)
            winners.stakes.append(stake)
            winners.packets.append(packet)  # red_money as stored
        return winners

    @property
    def stake_total(self) -> int:
        return sum(self.stakes)

    def __len__(self) -> int:
        return len(self.ids)

    def pseudonym(self, i: int) -> str:
        return self._names[32 * i : 32 * i + 32].hex()

    def lines(self, packets: Sequence[int] | None = None) -> Iterator[tuple[str, int, int]]:
        """Statement rows ``(pseudonym, stake, packet)``: ``packets`` in winner order, or the stored
        ``red_money`` when not given."""
        packets = self.packets if packets is None else packets
        for i, packet in enumerate(packets):
            yield self.pseudonym(i), self.stakes[i], packet
