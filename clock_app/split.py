"""Splitting a round's bonus into red packets — pure, integer fen, reproducible, O(winners) memory.

``split_bonus(bonus, winners, lucky_num, lucky_proportion, cap, rng)`` returns the packets in assignment order
(packet ``i`` goes to the ``i``-th winner in the order the caller documents) and what could not be placed:

1. No winners: nothing is split, the whole bonus is left over.
2. ``bonus >= winners * cap``: every packet is the cap; the rest is left over (``rollover_out``).
3. ``bonus < winners``: ``bonus`` winners, drawn uniformly, get 1 fen; the others 0.
4. Otherwise every packet is at least 1 fen and at most ``cap``, and they sum to ``bonus`` exactly:

   a. Lucky packets: when ``0 < lucky_num < winners``, the ``lucky_num`` lucky packets share
      ``L = floor(bonus * lucky_proportion)``, clamped to ``[lucky_num, bonus - (winners - lucky_num)]`` so
      every packet can hold 1 fen; the others share ``bonus - L``. Otherwise all share ``bonus``.
   b. Each share ``P`` among ``m`` packets is a uniformly random composition of ``P`` into ``m`` positive
      parts: ``m - 1`` distinct cut points are drawn from ``1 … P-1`` with Robert Floyd's sampling algorithm
      (for ``j`` from ``P-m`` to ``P-2``: ``t = below(j + 1)``; take ``t`` unless already taken, else ``j``;
      each taken value ``x`` is the cut ``x + 1``), sorted, and the parts are the gaps between
      ``0, cuts…, P``. Lucky parts come first, then the others.
   c. Cap: parts above ``cap`` are cut to ``cap`` and what was cut is spread over the parts below the cap by
      water-filling: the largest level ``t`` with ``sum(min(room_i, t)) <= excess`` is added
      (``min(room_i, t)`` to each part, ``room_i = cap - part_i``), then the remaining fen go one each to
      the parts with ``room_i > t``, in list order.
   d. The list is shuffled (Fisher–Yates from the end: for ``i`` from ``n-1`` down to ``1``, swap ``i``
      with ``below(i + 1)``), so who gets a lucky packet is uniformly random.

``rng`` is anything with ``below(n) -> int`` uniform in ``[0, n)``; settlement uses
:class:`clock_app.randomness.SeededRandom` so the allocation is a pure function of the round's seed.
The seed package built a list of every cent of the pot (``range(0.01, total, 0.01)``): never do that.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from itertools import chain, compress, tee
from operator import sub
from typing import Protocol

# composition() marks the chosen values in a bytearray when the population is at most this many bytes, or this many
# bytes per part (a set of ints otherwise: a pot of 10^10 fen among a few winners must not allocate 10 GB).
BYTEMAP_MIN = 1 << 20
BYTEMAP_PER_PART = 16


class RandomSource(Protocol):
    def below(self, n: int) -> int: ...


class SplitError(ValueError):
    """The inputs cannot describe a split (negative money, a cap below 1 fen, a ratio outside [0, 1])."""


@dataclass(frozen=True)
class Split:
    packets: list[int]  # fen, one per winner, in assignment order
    leftover: int  # fen that no packet could take (only when every packet is at the cap, or no winners)


def split_bonus(
    bonus: int,
    winners: int,
    *,
    lucky_num: int,
    lucky_proportion: Decimal,
    cap: int,
    rng: RandomSource,
) -> Split:
    _check(bonus, winners, lucky_num, lucky_proportion, cap)
    if winners == 0:
        return Split([], bonus)
    if bonus >= winners * cap:
        return Split([cap] * winners, bonus - winners * cap)
    if bonus < winners:
        packets = [1] * bonus + [0] * (winners - bonus)
        _shuffle(packets, rng)
        return Split(packets, 0)

    if 0 < lucky_num < winners:
        others = winners - lucky_num
        lucky_pot = int((Decimal(bonus) * lucky_proportion).to_integral_value(rounding=ROUND_FLOOR))
        lucky_pot = min(max(lucky_pot, lucky_num), bonus - others)
        packets = composition(lucky_pot, lucky_num, rng) + composition(bonus - lucky_pot, others, rng)
    else:
        packets = composition(bonus, winners, rng)
    _cap(packets, cap)
    _shuffle(packets, rng)
    return Split(packets, 0)


def _check(bonus: int, winners: int, lucky_num: int, lucky_proportion: Decimal, cap: int) -> None:
    for name, value in (("bonus", bonus), ("winners", winners), ("lucky_num", lucky_num), ("cap", cap)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SplitError(f"{name} must be a non-negative integer, got {value!r}")
    if cap < 1:
        raise SplitError("cap must be at least 1 fen")
    if not isinstance(lucky_proportion, Decimal) or not Decimal(0) <= lucky_proportion <= Decimal(1):
        raise SplitError(f"lucky_proportion must be a Decimal in [0, 1], got {lucky_proportion!r}")


def composition(total: int, parts: int, rng: RandomSource) -> list[int]:
    """A uniformly random list of ``parts`` positive integers summing to ``total`` (``total >= parts >= 1``)."""
    if parts < 1 or total < parts:
        raise SplitError(f"cannot split {total} into {parts} positive parts")
    # Floyd: ``parts - 1`` distinct values from range(total - 1), in O(parts) memory and time.
    population, wanted = total - 1, parts - 1
    below = rng.below
    if population <= max(BYTEMAP_MIN, BYTEMAP_PER_PART * wanted):
        # One byte per candidate value, at most BYTEMAP_PER_PART bytes a part: a few times smaller than a set of
        # ints (~60 bytes an element), and it hands the chosen values back sorted (compress), with no sort.
        taken = bytearray(population)
        for j in range(population - wanted, population):
            t = below(j + 1)
            # Floyd: j itself cannot be taken yet (every earlier draw was at most j - 1).
            taken[j if taken[t] else t] = 1
        # Chosen value x is the cut x + 1; two tee'd passes over the cuts give the gaps without listing them.
        ends, starts = tee(compress(range(1, population + 1), taken))
    else:
        chosen: set[int] = set()
        for j in range(population - wanted, population):
            t = below(j + 1)
            chosen.add(j if t in chosen else t)
        ends, starts = tee(x + 1 for x in sorted(chosen))
    # The parts are the gaps between 0, the cuts and total.
    return list(map(sub, chain(ends, (total,)), chain((0,), starts)))


def _cap(packets: list[int], cap: int) -> None:
    """Cut every packet to ``cap`` and water-fill what was cut into the packets below it (in place).

    The usual case — the cut is a few lucky packets' excess, less than the smallest room times the number of
    packets below the cap — takes whole-list ``map`` passes in C, no Python step per packet; the general
    case walks the sorted rooms. Both give the same fen (``tests/test_split.py`` compares with the plain
    loop of the rule)."""
    if max(packets, default=0) <= cap:  # nothing to cut, decided in C
        return
    full = [i for i, p in enumerate(packets) if p >= cap]  # a handful: the lucky packets (and any at the cap)
    excess = sum(packets[i] - cap for i in full)
    for i in full:
        packets[i] = cap
    below = len(packets) - len(full)
    if below and (cap - max(filter(cap.__gt__, packets))) * below > excess:
        # The level stays under every room: each packet below the cap takes `level`, and the first `spare`
        # of them in list order one fen more.
        level, spare = divmod(excess, below)
        end = spare  # the first `spare` packets below the cap end before index `end`
        for i in full:
            if i < end:
                end += 1
        packets[:end] = map((level + 1).__add__, packets[:end])
        packets[end:] = map(level.__add__, packets[end:])
        for i in full:
            packets[i] = cap
        return
    rooms = sorted(cap - p for p in packets if p < cap)
    # Largest level t with sum(min(room, t)) <= excess: walk the sorted rooms, the sum grows linearly
    # between consecutive rooms with slope "rooms not yet full".
    level, filled, remaining_rooms = 0, 0, len(rooms)
    for room in rooms:
        step = (room - level) * remaining_rooms
        if filled + step > excess:
            break
        filled += step
        level = room
        remaining_rooms -= 1
    level += (excess - filled) // remaining_rooms if remaining_rooms else 0
    spare = excess - sum(min(room, level) for room in rooms)
    for i, p in enumerate(packets):
        room = cap - p
        if room <= 0:
            continue
        packets[i] = p + min(room, level)
        if room > level and spare:
            packets[i] += 1
            spare -= 1


def _shuffle(items: list[int], rng: RandomSource) -> None:
    below = rng.below
    for i in range(len(items) - 1, 0, -1):
        j = below(i + 1)
        items[i], items[j] = items[j], items[i]
