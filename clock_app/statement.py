"""A round's statement: the numbers of a settled round in a form anyone can re-check without the database.

Pure Python (no Django), shared by settlement (which computes the numbers and stores the statement's hash),
by ``clock_audit`` and by ``clock_verify``.

Format (``clock_app.statement/2``): UTF-8 JSON lines. The first line is the header — ``format``,
``clock_day``, the frozen ``rules``, ``seed_hash``, ``seed``, ``committed`` and the ``totals`` — and each
further line is one winner, ``{"packet": fen, "pseudonym": hex, "stake": fen}``, in ascending pseudonym order.
Every line is canonical JSON (keys sorted, no spaces, ASCII) followed by ``\\n``; ``statement_hash`` is the
SHA-256 of those bytes. A winner's pseudonym is fixed when their payment is recorded,
``sha256(f"{seed}:{clock_day}:{order_no}:{transaction_id}")`` (``randomness.pseudonym``). Format 1 differs
only in the pseudonym, ``sha256(f"{seed}:{clock_day}:{uid}")``, which could be reversed by trying small uids
once the seed was revealed; its files still verify.

The numbers (:func:`settle_numbers`)::

    forfeited    = stakes - winner_stakes
    service_fee  = floor(forfeited * service_ratio)
    bonus        = forfeited - service_fee + rollover_in          (DESIGN §2)
    packets      = split_bonus(bonus, winners, lucky_num, lucky_proportion, max_packet, SeededRandom(seed))
    rollover_out = what the split could not place (only when every packet is at the cap), so
    sum(packets) = bonus - rollover_out
    (no winners: rollover_out = bonus, or with NO_WINNER_POLICY "operator" the bonus is booked as
    service_fee, which leaves bonus = 0 by the same formula)

and the books balance: ``stakes + rollover_in == winner_stakes + sum(packets) + service_fee + rollover_out``.
Packet ``i`` goes to the ``i``-th winner in pseudonym order.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, TextIO

from .randomness import SeededRandom, seed_commitment
from .rules import RoundRules
from .split import split_bonus

FORMATS = {1: "clock_app.statement/1", 2: "clock_app.statement/2"}
FORMAT = FORMATS[2]


@dataclass(frozen=True)
class Totals:
    payers: int
    stakes: int
    winners: int
    winner_stakes: int
    forfeited: int
    service_fee: int
    rollover_in: int
    bonus: int  # forfeited - service_fee + rollover_in: what the winners' packets share
    rollover_out: int

    @property
    def packets(self) -> int:
        """The sum of the packets: the bonus less what no packet could take."""
        return self.bonus - self.rollover_out

    def balances(self) -> bool:
        """DESIGN §2: money in == money out, to the fen."""
        return (
            self.bonus == self.forfeited - self.service_fee + self.rollover_in
            and self.stakes + self.rollover_in
            == self.winner_stakes + self.packets + self.service_fee + self.rollover_out
        )


def fee_and_bonus(*, forfeited: int, rollover_in: int, service_ratio: Decimal) -> tuple[int, int]:
    """``service_fee = floor(forfeited * service_ratio)`` (exact decimal) and
    ``bonus = forfeited - service_fee + rollover_in`` (DESIGN §2), before any no-winner policy."""
    service_fee = int((Decimal(forfeited) * service_ratio).to_integral_value(rounding=ROUND_FLOOR))
    return service_fee, forfeited - service_fee + rollover_in


def settle_numbers(
    *, payers: int, stakes: int, winner_stakes: int, winners: int, rollover_in: int, rules: RoundRules, seed: str
) -> tuple[Totals, list[int]]:
    """The settlement of one round: its totals and the packets in winners' pseudonym order."""
    forfeited = stakes - winner_stakes
    if forfeited < 0:
        raise ValueError(f"winners' stakes ({winner_stakes}) exceed the pool ({stakes})")
    service_fee, bonus = fee_and_bonus(forfeited=forfeited, rollover_in=rollover_in, service_ratio=rules.service_ratio)
    if winners == 0:
        packets: list[int] = []
        if rules.no_winner_policy == "operator":
            service_fee, bonus, rollover_out = service_fee + bonus, 0, 0
        else:
            rollover_out = bonus
    else:
        split = split_bonus(
            bonus,
            winners,
            lucky_num=rules.lucky_num,
            lucky_proportion=rules.lucky_proportion,
            cap=rules.max_packet,
            rng=SeededRandom(seed),
        )
        packets, rollover_out = split.packets, split.leftover
    totals = Totals(
        payers=payers,
        stakes=stakes,
        winners=winners,
        winner_stakes=winner_stakes,
        forfeited=forfeited,
        service_fee=service_fee,
        rollover_in=rollover_in,
        bonus=bonus,
        rollover_out=rollover_out,
    )
    return totals, packets


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"


def header(
    *, clock_day: str, rules: RoundRules, seed_hash: str, seed: str, committed: bool, totals: Totals, version: int = 2
) -> dict:
    return {
        "format": FORMATS[version],
        "clock_day": clock_day,
        "rules": rules.as_public(),
        "seed_hash": seed_hash,
        "seed": seed,
        "committed": committed,
        "totals": asdict(totals),
    }


def line(pseudonym: str, stake: int, packet: int) -> dict:
    return {"pseudonym": pseudonym, "stake": stake, "packet": packet}


def line_bytes(pseudonym: str, stake: int, packet: int) -> bytes:
    """``canonical(line(...))`` without ``json.dumps`` per winner — the same bytes, five times faster (a
    pseudonym is lowercase hex and the amounts are integers, so nothing needs escaping)."""
    return b'{"packet":%d,"pseudonym":"%s","stake":%d}\n' % (packet, pseudonym.encode("ascii"), stake)


LINES_CHUNK = 1 << 15


def line_chunks(names: bytes | bytearray, stakes: Sequence[int], packets: Sequence[int]) -> Iterator[bytes]:
    """The winners' lines, ``LINES_CHUNK`` at a time, byte for byte those of :func:`line_bytes`, from columns:
    ``names`` the raw 32-byte pseudonyms end to end, ``stakes`` and ``packets`` in the same order.

    Hashing a million-winner statement line by line costs ~1 s of ``%`` formatting. Here each line is three
    pieces — ``{"packet":P,"pseudonym":"``, the hex name, ``","stake":S}\n`` — the first and last looked up
    per distinct amount (a round has few), the names cut by one ``struct`` call, and a chunk joined at once."""
    count = len(packets)
    if len(names) != 32 * count or len(stakes) != count:
        raise ValueError(f"{len(names)} bytes of names and {len(stakes)} stakes for {count} packets")
    heads = {p: b'{"packet":%d,"pseudonym":"' % p for p in set(packets)}
    tails = {s: b'","stake":%d}\n' % s for s in set(stakes)}
    full = struct.Struct("64s" * LINES_CHUNK).unpack
    for start in range(0, count, LINES_CHUNK):
        stop = min(start + LINES_CHUNK, count)
        hexed = binascii.hexlify(names[32 * start : 32 * stop])
        parts = [b""] * (3 * (stop - start))
        parts[0::3] = map(heads.__getitem__, packets[start:stop])
        parts[1::3] = full(hexed) if stop - start == LINES_CHUNK else struct.unpack("64s" * (stop - start), hexed)
        parts[2::3] = map(tails.__getitem__, stakes[start:stop])
        yield b"".join(parts)


def encode(head: dict, rows: Iterable[tuple[str, int, int]]) -> Iterator[bytes]:
    """The statement's canonical bytes from its header and ``(pseudonym, stake, packet)`` rows, a line at a
    time (flat memory for a million winners)."""
    yield canonical(head)
    for pseudonym, stake, packet in rows:
        yield line_bytes(pseudonym, stake, packet)


def digest(chunks: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for chunk in chunks:
        sha.update(chunk)
    return sha.hexdigest()


@dataclass
class Verification:
    ok: bool
    clock_day: str
    statement_hash: str
    problems: list[str]
    totals: dict[str, int]  # recomputed from the file; empty when the file is not a statement at all
    warnings: list[str] = field(default_factory=list)  # true of the file, but worth a reader's attention


class NotAStatement(ValueError):
    """The text is not a statement of this format (empty, not JSON lines, a field missing or of a wrong type)."""


TOTALS = tuple(Totals.__dataclass_fields__)
LINE_FIELDS = ("packet", "pseudonym", "stake")


def _json_object(text: str, number: int) -> dict[str, Any]:
    try:
        item = json.loads(text)
    except (ValueError, RecursionError):
        raise NotAStatement(f"line {number} is not JSON") from None
    if not isinstance(item, dict):
        raise NotAStatement(f"line {number} is not a JSON object")
    return item


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NotAStatement(f"{what} is {value!r:.40}, not a non-negative integer (fen)")
    return value


def _read_header(first: str) -> tuple[dict[str, Any], RoundRules, dict[str, int]]:
    head = _json_object(first, 1)
    if head.get("settled") is False or "packets" in head:
        raise NotAStatement(
            "line 1 is the JSON API's view of a round (statement/ endpoint), not the statement file: verify the "
            "JSON-lines file (clock_statement, or the statement.jsonl endpoint) of a settled round"
        )
    missing = [name for name in ("format", "clock_day", "rules", "seed_hash", "seed", "totals") if name not in head]
    if missing:
        raise NotAStatement(f"line 1 is not a statement header: it has no {', '.join(missing)}")
    if not isinstance(head["totals"], dict) or not isinstance(head["rules"], dict):
        raise NotAStatement("line 1: rules and totals must be JSON objects")
    absent = [name for name in TOTALS if name not in head["totals"]]
    if absent:
        raise NotAStatement(f"line 1: totals has no {', '.join(absent)}")
    totals = {name: _integer(head["totals"][name], f"totals.{name}") for name in TOTALS}
    try:
        rules = RoundRules.from_public(head["rules"])
    except KeyError as exc:
        raise NotAStatement(f"line 1: rules has no {exc.args[0]}") from None
    except (ValueError, TypeError, ArithmeticError):
        raise NotAStatement("line 1: rules has a value of the wrong form") from None
    if not isinstance(head["seed"], str) or not isinstance(head["seed_hash"], str):
        raise NotAStatement("line 1: seed and seed_hash must be strings")
    return head, rules, totals


def verify(stream: TextIO | Iterable[str]) -> Verification:
    """Re-check a statement from its text alone: the seed against its commitment, the order of the lines,
    every packet recomputed from the seed and the rules, and the books balancing to the fen. A text that is
    not a statement at all (empty, not JSON, a field missing) fails with what is wrong, never an exception.

    Reads the lines once and keeps only the winners' stakes and packets (two integers each).
    """
    sha = hashlib.sha256()
    try:
        lines = iter(stream)
        first = next(lines, None)
        if first is None or not first.strip():
            raise NotAStatement("the file is empty: a statement starts with its header line")
        head, rules, totals = _read_header(first)
    except (NotAStatement, UnicodeDecodeError) as exc:
        return Verification(False, "", "", [_unreadable(exc, 1)], {})
    sha.update(canonical(head))
    problems: list[str] = []
    warnings: list[str] = []
    if head.get("format") not in FORMATS.values():
        problems.append(f"unknown format {head.get('format')!r:.60} (expected one of {', '.join(FORMATS.values())})")
    seed = head["seed"]
    if seed_commitment(seed) != head["seed_hash"]:
        problems.append("sha256(seed) does not match seed_hash: the seed is not the one committed to")
    if head.get("committed") is not True:
        warnings.append(
            "committed is false: this round's seed was drawn at settlement, not committed before the round, "
            "so the allocation could have been chosen after the check-ins"
        )

    stakes: list[int] = []
    packets: list[int] = []
    previous = ""
    number = 1
    try:
        for number, text in enumerate(lines, start=2):
            if not text.strip():
                continue
            item = _json_object(text, number)
            if any(name not in item for name in LINE_FIELDS) or not isinstance(item["pseudonym"], str):
                raise NotAStatement(f"line {number} is not a winner's line {{packet, pseudonym, stake}}")
            stake = _integer(item["stake"], f"line {number}: stake")
            packet = _integer(item["packet"], f"line {number}: packet")
            sha.update(canonical(item))
            if item["pseudonym"] <= previous:
                problems.append(f"line {number}: pseudonyms are not in strictly ascending order")
            previous = item["pseudonym"]
            if stake != rules.participate_money:
                problems.append(f"line {number}: stake {stake} is not the round's stake {rules.participate_money}")
            stakes.append(stake)
            packets.append(packet)
    except (NotAStatement, UnicodeDecodeError) as exc:
        return Verification(False, str(head["clock_day"]), "", [*problems, _unreadable(exc, number)], {}, warnings)

    try:
        expected, expected_packets = settle_numbers(
            payers=totals["payers"],
            stakes=totals["stakes"],
            winner_stakes=sum(stakes),
            winners=len(stakes),
            rollover_in=totals["rollover_in"],
            rules=rules,
            seed=seed,
        )
    except ValueError as exc:  # the winners' stakes exceed the pool: no settlement gives these numbers
        problems.append(str(exc))
        return Verification(False, str(head["clock_day"]), sha.hexdigest(), problems, {}, warnings)
    for name, value in asdict(expected).items():
        if totals[name] != value:
            problems.append(f"totals.{name} is {totals[name]} but recomputes to {value}")
    wrong = [i for i, (got, want) in enumerate(zip(packets, expected_packets, strict=True)) if got != want]
    if wrong:
        first_wrong = wrong[0]
        problems.append(
            f"{len(wrong)} packet(s) differ from the allocation recomputed from the seed "
            f"(first: winner #{first_wrong + 1}, {packets[first_wrong]} instead of {expected_packets[first_wrong]})"
        )
    if sum(packets) != expected.packets:
        problems.append(f"packets sum to {sum(packets)}, the bonus less rollover_out is {expected.packets}")
    if not expected.balances():
        problems.append("stakes + rollover_in != winner_stakes + packets + service_fee + rollover_out")
    return Verification(not problems, str(head["clock_day"]), sha.hexdigest(), problems, asdict(expected), warnings)


def _unreadable(exc: Exception, number: int) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"line {number} is not ASCII: a statement is canonical JSON, ASCII only"
    return f"not a statement: {exc}"


def main(argv: list[str] | None = None) -> int:
    """``python -m clock_app.statement FILE``: verify a statement with nothing but this package."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m clock_app.statement",
        description="Verify a round's statement (the JSON-lines file of clock_statement or the statement.jsonl "
        "endpoint) without a database: the seed against its commitment, every packet recomputed from the seed, "
        "the books to the fen. Exits 0 when it verifies, 1 when it does not, 2 when the file cannot be read.",
    )
    parser.add_argument("file", help="the statement file (JSON lines), or - for standard input")
    parser.add_argument("--expect-hash", metavar="HASH", help="the published statement_hash the file must have")
    args = parser.parse_args(argv)
    try:
        if args.file == "-":
            result = verify(sys.stdin)
        else:
            with open(args.file, encoding="ascii") as source:
                result = verify(source)
    except OSError as exc:
        sys.stderr.write(f"cannot read {args.file}: {exc.strerror or exc}\n")
        return 2
    if args.expect_hash and result.statement_hash != args.expect_hash:
        result.problems.append(f"the file hashes to {result.statement_hash}, not the published {args.expect_hash}")
        result.ok = False
    if result.statement_hash:
        sys.stdout.write(f"round {result.clock_day}: statement_hash {result.statement_hash}\n")
    for problem in result.problems:
        sys.stdout.write(f"  - {problem}\n")
    for warning in result.warnings:
        sys.stdout.write(f"  ! {warning}\n")
    sys.stdout.write("verified\n" if result.ok else "does NOT verify\n")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
