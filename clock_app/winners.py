"""A round's winners in the documented order (ascending pseudonym), held in flat integer arrays.

Settlement assigns packet ``i`` to the ``i``-th winner of this order; the statement lists winners in it;
the audit and ``clock_verify`` rely on it. The database sorts (``ORDER BY`` the pseudonym it computes), so a
million winners cost four ``array('q')`` — 32 bytes a winner — and no model instances or dicts.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from datetime import date

from .dbfunctions import Pseudonym
from .models import ClockStatus, Participation
from .randomness import pseudonym

CHUNK = 20_000


def winners_in_order(day: date, seed: str):
    """The round's winners as a queryset ordered by pseudonym (annotated ``pseudonym``)."""
    return (
        Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN)
        .annotate(pseudonym=Pseudonym(seed, day))
        .order_by("pseudonym")
    )


class Winners:
    def __init__(self, day: date, seed: str) -> None:
        self.day, self.seed = day, seed
        self.ids, self.uids, self.stakes, self.packets = array("q"), array("q"), array("q"), array("q")

    @classmethod
    def load(cls, day: date, seed: str) -> Winners:
        winners = cls(day, seed)
        rows = winners_in_order(day, seed).values_list("id", "uid", "order_money", "red_money")
        for pk, uid, stake, packet in rows.iterator(chunk_size=CHUNK):
            winners.ids.append(pk)
            winners.uids.append(uid)
            winners.stakes.append(stake)
            winners.packets.append(packet)  # red_money as stored
        return winners

    @property
    def stake_total(self) -> int:
        return sum(self.stakes)

    def __len__(self) -> int:
        return len(self.ids)

    def lines(self, packets: Sequence[int] | None = None) -> Iterator[tuple[str, int, int]]:
        """Statement rows ``(pseudonym, stake, packet)``: ``packets`` in winner order, or the stored
        ``red_money`` when not given."""
        packets = self.packets if packets is None else packets
        for i, packet in enumerate(packets):
            yield pseudonym(self.seed, self.day, self.uids[i]), self.stakes[i], packet
