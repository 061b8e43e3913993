"""A round's winners in the documented order (ascending pseudonym), held in flat integer arrays.

Settlement assigns packet ``i`` to the ``i``-th winner of this order; the statement lists winners in it;
the audit and ``clock_verify`` rely on it. A million winners cost four ``array('q')`` and a list of
32-byte digests — no model instances, no dicts.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from datetime import date

from . import statement
from .models import ClockStatus, Participation
from .randomness import pseudonym_digest

CHUNK = 20_000


class Winners:
    def __init__(self, day: date, ids: array, uids: array, stakes: array, packets: array, digests: list[bytes]) -> None:
        order = sorted(range(len(ids)), key=digests.__getitem__)
        self.day = day
        self.ids = array("q", (ids[i] for i in order))
        self.uids = array("q", (uids[i] for i in order))
        self.stakes = array("q", (stakes[i] for i in order))
        self.packets = array("q", (packets[i] for i in order))  # red_money as stored
        self.digests = [digests[i] for i in order]
        self.stake_total = sum(self.stakes)

    @classmethod
    def load(cls, day: date, seed: str) -> Winners:
        ids, uids, stakes, packets, digests = array("q"), array("q"), array("q"), array("q"), []
        rows = (
            Participation.objects.filter(clock_day=day, clock_status=ClockStatus.CLOCKED_IN)
            .order_by("id")
            .values_list("id", "uid", "order_money", "red_money")
            .iterator(chunk_size=CHUNK)
        )
        for pk, uid, stake, packet in rows:
            ids.append(pk)
            uids.append(uid)
            stakes.append(stake)
            packets.append(packet)
            digests.append(pseudonym_digest(seed, day, uid))
        return cls(day, ids, uids, stakes, packets, digests)

    def __len__(self) -> int:
        return len(self.ids)

    def lines(self, packets: Sequence[int] | None = None) -> Iterator[dict]:
        """Statement lines: ``packets`` in winner order, or the stored ``red_money`` when not given."""
        packets = self.packets if packets is None else packets
        for i, packet in enumerate(packets):
            yield statement.line(self.digests[i].hex(), self.stakes[i], packet)
