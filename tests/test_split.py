"""Property tests of the pure split: every rule of DESIGN §2 over bonus 0…10⁹ fen and winners 1…10⁵."""

import random
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clock_app.randomness import SeededRandom
from clock_app.split import SplitError, composition, split_bonus


class FastRandom:
    """A quick RandomSource for properties that do not depend on where the randomness comes from."""

    def __init__(self, seed: int) -> None:
        self._r = random.Random(seed)

    def below(self, n: int) -> int:
        return self._r.randrange(n)


winners_st = st.one_of(st.integers(1, 50), st.integers(1, 100_000))
bonus_st = st.one_of(st.integers(0, 200), st.integers(0, 10**9))
cap_st = st.one_of(st.integers(1, 50), st.integers(1, 9800), st.just(9800))
proportion_st = st.decimals(min_value=0, max_value=1, places=2)
lucky_st = st.integers(0, 10)


@settings(max_examples=150, deadline=None)
@given(
    bonus=bonus_st,
    winners=winners_st,
    lucky_num=lucky_st,
    proportion=proportion_st,
    cap=cap_st,
    seed=st.integers(0, 2**32),
)
def test_split_rules(bonus, winners, lucky_num, proportion, cap, seed):
    result = split_bonus(
        bonus, winners, lucky_num=lucky_num, lucky_proportion=proportion, cap=cap, rng=FastRandom(seed)
    )
    packets = result.packets
    assert len(packets) == winners
    # Nothing is silently dropped: placed + leftover is the bonus, to the fen.
    assert sum(packets) + result.leftover == bonus
    assert all(0 <= p <= cap for p in packets)
    if bonus < winners:
        assert sorted(packets) == [0] * (winners - bonus) + [1] * bonus
    else:
        assert min(packets) >= 1
    # Something is left over only when every packet is at the cap.
    if result.leftover:
        assert packets == [cap] * winners
    else:
        assert sum(packets) == bonus


@settings(max_examples=100, deadline=None)
@given(
    bonus=st.integers(2, 10**9),
    extra=st.integers(1, 300),
    lucky_num=st.integers(1, 5),
    proportion=proportion_st,
    seed=st.integers(0, 2**32),
)
def test_lucky_packets_share_their_proportion_when_uncapped(bonus, extra, lucky_num, proportion, seed):
    winners = lucky_num + extra
    if bonus < winners:
        bonus = winners
    cap = bonus  # no cap in play
    rng = FastRandom(seed)
    packets = split_bonus(bonus, winners, lucky_num=lucky_num, lucky_proportion=proportion, cap=cap, rng=rng).packets
    # Rebuild the unshuffled lists with the same random stream to find the lucky share.
    lucky_pot = min(max(int(bonus * proportion), lucky_num), bonus - extra)
    replay = FastRandom(seed)
    lucky = composition(lucky_pot, lucky_num, replay)
    others = composition(bonus - lucky_pot, extra, replay)
    assert sorted(packets) == sorted(lucky + others)
    assert sum(lucky) == lucky_pot


def test_capped_excess_goes_to_the_other_winners():
    result = split_bonus(1000, 10, lucky_num=1, lucky_proportion=Decimal("0.9"), cap=150, rng=FastRandom(1))
    assert sum(result.packets) == 1000 and result.leftover == 0
    assert max(result.packets) <= 150


def test_everyone_capped_leaves_the_rest_over():
    result = split_bonus(1000, 3, lucky_num=2, lucky_proportion=Decimal("0.2"), cap=100, rng=FastRandom(1))
    assert result.packets == [100, 100, 100] and result.leftover == 700


def test_tiny_pot_gives_one_fen_to_that_many_winners():
    result = split_bonus(3, 7, lucky_num=2, lucky_proportion=Decimal("0.2"), cap=9800, rng=FastRandom(3))
    assert sorted(result.packets) == [0, 0, 0, 0, 1, 1, 1]


def test_no_winners_leaves_everything_over():
    assert (
        split_bonus(500, 0, lucky_num=2, lucky_proportion=Decimal("0.2"), cap=9800, rng=FastRandom(0)).leftover == 500
    )


def test_zero_bonus():
    assert (
        split_bonus(0, 4, lucky_num=2, lucky_proportion=Decimal("0.2"), cap=9800, rng=FastRandom(0)).packets == [0] * 4
    )


def test_same_seed_same_allocation_other_seed_other_allocation():
    kwargs = {"lucky_num": 2, "lucky_proportion": Decimal("0.2"), "cap": 9800}
    a = split_bonus(123_456, 500, rng=SeededRandom("a" * 64), **kwargs)
    b = split_bonus(123_456, 500, rng=SeededRandom("a" * 64), **kwargs)
    c = split_bonus(123_456, 500, rng=SeededRandom("b" * 64), **kwargs)
    assert a == b
    assert a.packets != c.packets


def test_memory_is_linear_in_winners_not_in_the_pot():
    # A pot of 10^9 fen among 3 winners: the seed's array of every cent would need ~10^9 entries.
    result = split_bonus(10**9, 3, lucky_num=0, lucky_proportion=Decimal(0), cap=10**9, rng=FastRandom(5))
    assert sum(result.packets) == 10**9


def test_position_of_the_lucky_packet_is_uniform():
    """Over many seeds, the largest packet lands on each of 5 winners about equally often."""
    counts = Counter()
    for seed in range(2000):
        packets = split_bonus(
            10_000, 5, lucky_num=1, lucky_proportion=Decimal("0.9"), cap=10_000, rng=FastRandom(seed)
        ).packets
        counts[packets.index(max(packets))] += 1
    assert set(counts) == set(range(5))
    assert all(300 < c < 500 for c in counts.values()), counts


def test_composition_is_uniform_over_small_cases():
    """All C(4, 2) = 6 compositions of 5 into 3 positive parts appear, none overwhelmingly."""
    counts = Counter(tuple(composition(5, 3, FastRandom(seed))) for seed in range(6000))
    assert len(counts) == 6
    assert all(800 < c < 1200 for c in counts.values()), counts


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bonus": -1, "winners": 1},
        {"bonus": 1, "winners": -1},
        {"bonus": 1, "winners": 1, "cap": 0},
        {"bonus": 1.5, "winners": 1},
        {"bonus": 1, "winners": 1, "lucky_proportion": Decimal("1.5")},
        {"bonus": 1, "winners": 1, "lucky_proportion": 0.2},
    ],
)
def test_bad_inputs_raise(kwargs):
    args = {"lucky_num": 1, "lucky_proportion": Decimal("0.2"), "cap": 10, "rng": FastRandom(0), **kwargs}
    with pytest.raises(SplitError):
        split_bonus(args.pop("bonus"), args.pop("winners"), **args)


def test_seeded_random_is_the_documented_construction():
    """Four big-endian 64-bit words per SHA-256 block, in order; a word at or above the rejection limit is
    skipped. (The README's worked example pins a concrete draw too.)"""
    import hashlib

    seed = "0" * 64
    words = []
    for block in range(2):
        digest = hashlib.sha256(f"{seed}:{block}".encode()).digest()
        words += [int.from_bytes(digest[i : i + 8], "big") for i in (0, 8, 16, 24)]
    rng = SeededRandom(seed)
    assert [rng.below(2**64) for _ in range(8)] == words  # n = 2**64: nothing is ever rejected
    n = 3 * 2**62  # limit = 2**64 - 2**64 % n = n: every word >= n is rejected
    expected = [w % n for w in words if w < n]
    rng = SeededRandom(seed)
    assert [rng.below(n) for _ in range(len(expected))] == expected
    assert len(expected) < len(words)  # the rejection really happened in this stream


@settings(max_examples=60, deadline=None)
@given(total=st.integers(1, 5_000), extra=st.integers(0, 3_000), seed=st.integers(0, 2**32))
def test_composition_bytemap_and_set_give_the_same_parts(total, extra, seed):
    """composition() marks its cut points in a bytearray when that is small, in a set otherwise: the same
    draws must give the same parts either way."""
    import clock_app.split as split

    parts = max(1, total - extra)
    with_bytemap = composition(total, parts, FastRandom(seed))
    saved = split.BYTEMAP_MIN, split.BYTEMAP_PER_PART
    split.BYTEMAP_MIN = split.BYTEMAP_PER_PART = 0
    try:
        with_set = composition(total, parts, FastRandom(seed))
    finally:
        split.BYTEMAP_MIN, split.BYTEMAP_PER_PART = saved
    assert with_bytemap == with_set and sum(with_set) == total and min(with_set) >= 1


def _cap_by_the_rule(packets, cap):
    """DESIGN §2's water-filling as a plain loop, the reference for split._cap's faster passes."""
    excess = sum(p - cap for p in packets if p > cap)
    if not excess:
        return
    packets[:] = [min(p, cap) for p in packets]
    rooms = sorted(cap - p for p in packets if p < cap)
    level, filled, remaining = 0, 0, len(rooms)
    for room in rooms:
        step = (room - level) * remaining
        if filled + step > excess:
            break
        filled, level, remaining = filled + step, room, remaining - 1
    level += (excess - filled) // remaining if remaining else 0
    spare = excess - sum(min(room, level) for room in rooms)
    for i, p in enumerate(packets):
        room = cap - p
        if room > 0:
            packets[i] = p + min(room, level)
            if room > level and spare:
                packets[i] += 1
                spare -= 1


@settings(max_examples=300, deadline=None)
@given(cap=st.integers(1, 60), packets=st.lists(st.integers(1, 400), min_size=1, max_size=40))
def test_cap_is_the_water_filling_rule(cap, packets):
    from clock_app.split import _cap

    if sum(packets) > cap * len(packets):
        packets = [min(p, cap) for p in packets]
    expected, got = list(packets), list(packets)
    _cap_by_the_rule(expected, cap)
    _cap(got, cap)
    assert got == expected
