"""Ninety days of settled, paid-out history in a bench database (issue 15: "the same ratios after 90 days").

Usage (from another bench, after anything that truncates the clock tables, before building its own round)::

    from history import build_history        # bench/ is on sys.path of every bench script
    build_history(url, days=90, per_day=20_000, last_day=bench_day - timedelta(days=1))

or from the shell: ``.venv/bin/python bench/history.py --database-url URL --last-day 2000-12-31``.

``build_history(url, *, days=90, per_day=20_000, last_day=date(2000, 12, 31), players=None, uid_start=1)``
fills rounds ``last_day - days + 1 … last_day``, each with ``per_day`` participations, and returns a dict of
what is there (``first_day``, ``last_day``, ``days``, ``per_day``, ``players``, ``built``, ``seconds``). It
needs the schema migrated (it does not migrate) and only psycopg plus the pure modules of ``clock_app``
(no Django set-up). What each day gets, consistent as ``clock_audit`` checks it:

* ``pay_clock``: the round, settled the next morning at 08:05 (Asia/Shanghai) with fixed rules (stake 100
  fen, window 05:00–08:00, fee 5 %, 2 lucky packets sharing 20 %, cap 9,800 fen), a seed of its own
  (``sha256("history:<day>")``, committed), totals and the real ``statement_hash`` of its statement (format 2);
* ``pay_clock_day``: ``per_day`` players (distinct uids, rotating through the pool), 80 % of them clocked
  in; every winner holds their packet from the real split (``statement.settle_numbers`` over the winners in
  pseudonym order) and is paid: ``red_status`` PAID, ``clock_money = order_money + red_money``, ``red_time``;
  order numbers ``H<yyyymmdd><10 digits>``, payout numbers the order number + ``P``;
* ``pay_clock_order``: one paid order per participation (``transaction_id`` ``T`` + order number);
* ``pay_clock_user_log``: a stake row per payer (``money_type`` 1, ``reference`` = order number) and a
  packet row per paid winner (``money_type`` 2, ``reference`` = payout number, amount stake + packet);
* ``pay_clock_user``: one row per uid of the pool (``players``, default ``per_day * 3 // 2``, uids
  ``uid_start …``), its totals summed from the history; a uid that already has a row keeps it (``ON CONFLICT
  DO NOTHING``). A bench that COPYs its own ``pay_clock_user`` rows for those uids must do so *before*
  calling this, or use uids outside the pool.

``pay_clock_day`` and ``pay_clock`` are loaded with ``COPY``; orders, ledger rows and players are derived
from them server-side with one ``INSERT … SELECT`` each; then ``VACUUM ANALYZE`` of the five tables.
Idempotent: when every one of the days is there, settled, with ``per_day`` participations, nothing is done;
otherwise those days' rows are deleted from the five tables and rebuilt. Rows of other days are not touched.
About 1.8 M participations, 1.8 M orders, 3.2 M ledger rows: roughly 1–2 minutes on 2 cores, ~1.5 GB on disk.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchlib import raw_connect  # noqa: E402  (bench/ is on sys.path)

from clock_app import statement  # noqa: E402
from clock_app.randomness import pseudonym, seed_commitment  # noqa: E402
from clock_app.rules import RoundRules  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
STAKE = 100  # fen
WINNER_SHARE = 0.8
RULES = RoundRules(
    participate_money=STAKE,
    clock_start=clock_time(5),
    clock_end=clock_time(8),
    red_open=clock_time(8, 5),
    service_ratio=Decimal("0.0500"),  # as numeric(5,4) gives it back: the header says "0.0500"
    lucky_num=2,
    lucky_proportion=Decimal("0.2000"),
    max_packet=9800,
    no_winner_policy="rollover",
)
TABLES = ("pay_clock_user_log", "pay_clock_order", "pay_clock_day", "pay_clock")
DAY_COLUMNS = (
    "uid, nickname, mobile, source_uid, red_status, clock_day, order_no, order_money, clock_money, red_money, "
    "discount_money, clock_status, clock_time, pay_result, red_time, payout_no, pseudonym, payout_attempts, "
    "payout_claimed_at, payout_renewals, create_time, update_time"
)
ROUND_COLUMNS = (
    "clock_day, user_num, success_user_num, failure_user_num, clock_money, participate_money, clock_start, "
    "clock_end, red_open, service_ratio, lucky_num, lucky_proportion, max_packet, no_winner_policy, seed_hash, "
    "split_seed, seed_committed, statement_version, service_fee, bonus_money, rollover_in, rollover_out, "
    "rollover_into, statement_hash, settled_at, create_time, update_time"
)


def _local(day: date, clock: clock_time) -> datetime:
    return datetime.combine(day, clock, tzinfo=ZONE)


def _complete(conn, first: date, last: date, days: int, per_day: int) -> bool:
    settled = conn.execute(
        "SELECT count(*) FROM pay_clock WHERE clock_day BETWEEN %s AND %s AND settled_at IS NOT NULL AND user_num = %s",
        [first, last, per_day],
    ).fetchone()[0]
    if settled != days:
        return False
    rows = conn.execute(
        "SELECT count(*) FROM pay_clock_day WHERE clock_day BETWEEN %s AND %s", [first, last]
    ).fetchone()[0]
    return rows == days * per_day


def _day_rows(day: date, per_day: int, pool: int, uid_start: int, rollover_in: int) -> tuple[list[str], list]:
    """One day's ``pay_clock_day`` COPY lines and its ``pay_clock`` row (settled, with its statement hash)."""
    rng = random.Random(f"history:{day}")
    seed = hashlib.sha256(f"history:{day}".encode()).hexdigest()
    tag = day.strftime("%Y%m%d")
    offset = (day.toordinal() * 7919) % pool
    joined_at = _local(day, clock_time(0))
    window = _local(day + timedelta(days=1), RULES.clock_start)
    settled_at = _local(day + timedelta(days=1), RULES.red_open)
    people = []  # (pseudonym, uid, order_no, winner, joined, clocked)
    for k in range(per_day):
        uid = uid_start + (offset + k) % pool
        order_no = f"H{tag}{k:010d}"
        name = pseudonym(seed, day, order_no, f"T{order_no}")
        joined = joined_at + timedelta(seconds=rng.randrange(86_400))
        winner = rng.random() < WINNER_SHARE
        clocked = window + timedelta(seconds=int(10_800 * rng.random() ** 2)) if winner else None
        people.append((name, uid, order_no, winner, joined, clocked))
    winners = sorted((p for p in people if p[3]), key=lambda p: p[0])
    totals, packets = statement.settle_numbers(
        payers=per_day,
        stakes=STAKE * per_day,
        winner_stakes=STAKE * len(winners),
        winners=len(winners),
        rollover_in=rollover_in,
        rules=RULES,
        seed=seed,
    )
    packet_of = {p[2]: packet for p, packet in zip(winners, packets, strict=True)}
    statement_hash = statement.digest(
        statement.encode(
            statement.header(
                clock_day=day.isoformat(),
                rules=RULES,
                seed_hash=seed_commitment(seed),
                seed=seed,
                committed=True,
                totals=totals,
                version=2,
            ),
            ((p[0], STAKE, packet) for p, packet in zip(winners, packets, strict=True)),
        )
    )
    paid = settled_at.isoformat()
    lines = []
    for name, uid, order_no, winner, joined, clocked in people:
        stamp = joined.isoformat()
        if winner:
            packet = packet_of[order_no]
            status = (
                f"2\t{day}\t{order_no}\t{STAKE}\t{STAKE + packet}\t{packet}\t0\t2\t{clocked.isoformat()}\tok\t{paid}"
            )
        else:
            status = f"1\t{day}\t{order_no}\t{STAKE}\t0\t0\t0\t1\t\\N\t\t\\N"
        lines.append(
            f"{uid}\tplayer{uid}\t138{uid:08d}\topen-{uid}\t{status}\t{order_no}P\t{name}\t{int(winner)}\t\\N\t0"
            f"\t{stamp}\t{stamp}\n"
        )
    round_row = [
        day,
        per_day,
        totals.winners,
        per_day - totals.winners,
        STAKE * per_day,
        *RULES.as_fields().values(),
        seed_commitment(seed),
        seed,
        True,
        2,
        totals.service_fee,
        totals.bonus,
        totals.rollover_in,
        totals.rollover_out,
        None,  # rollover_into: set below when the next day takes it
        statement_hash,
        settled_at,
        joined_at,
        settled_at,
    ]
    return lines, round_row


def build_history(
    url: str,
    *,
    days: int = 90,
    per_day: int = 20_000,
    last_day: date = date(2000, 12, 31),
    players: int | None = None,
    uid_start: int = 1,
) -> dict:
    """Fill rounds ``last_day - days + 1 … last_day`` with settled, paid-out history (see the module
    docstring); a no-op when they are all there already."""
    pool = players or per_day * 3 // 2
    if pool < per_day:
        raise ValueError(f"players ({pool}) must be at least per_day ({per_day}): a uid joins a round once")
    first = last_day - timedelta(days=days - 1)
    summary = {"first_day": first, "last_day": last_day, "days": days, "per_day": per_day, "players": pool}
    started = time.perf_counter()
    with raw_connect(url) as conn:
        if _complete(conn, first, last_day, days, per_day):
            return {**summary, "built": False, "seconds": 0.0}
    assert list(RULES.as_fields()) == [
        "participate_money",
        "clock_start",
        "clock_end",
        "red_open",
        "service_ratio",
        "lucky_num",
        "lucky_proportion",
        "max_packet",
        "no_winner_policy",
    ], "RoundRules changed: update ROUND_COLUMNS"
    with raw_connect(url, autocommit=False) as conn, conn.cursor() as cursor:
        cursor.execute(
            "UPDATE pay_clock SET rollover_into = NULL WHERE rollover_into BETWEEN %s AND %s", [first, last_day]
        )
        for table in TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE clock_day BETWEEN %s AND %s", [first, last_day])
        rounds = []
        rollover = 0
        with cursor.copy(f"COPY pay_clock_day ({DAY_COLUMNS}) FROM STDIN") as copy:
            for n in range(days):
                day = first + timedelta(days=n)
                lines, round_row = _day_rows(day, per_day, pool, uid_start, rollover)
                copy.write("".join(lines))
                if rounds and rollover:
                    rounds[-1][22] = day  # the previous round's rollover went into this one
                rollover = round_row[21]
                rounds.append(round_row)
        with cursor.copy(f"COPY pay_clock ({ROUND_COLUMNS}) FROM STDIN") as copy:
            for row in rounds:
                copy.write_row(row)
        cursor.execute(
            "INSERT INTO pay_clock_order (order_no, clock_day, user_id, transaction_id, buyer_id, order_status, "
            "pay_amount, discount_money, pay_result, pay_time, refund_status, refund_reason, refund_time, "
            "refund_result, refund_attempts, refund_claimed_at, create_time, update_time) "
            "SELECT order_no, clock_day, uid, 'T' || order_no, source_uid, 2, order_money, 0, '', create_time, 1, "
            "'', NULL, '', 0, NULL, create_time, create_time FROM pay_clock_day WHERE clock_day BETWEEN %s AND %s "
            "ORDER BY id",
            [first, last_day],
        )
        cursor.execute(
            "INSERT INTO pay_clock_user_log (uid, clock_day, money_type, change_money, log_content, reference, "
            "create_time, update_time) "
            "SELECT uid, clock_day, kind, amount, '', reference, at, at FROM ("
            "  SELECT id, 0 AS n, uid, clock_day, 1 AS kind, order_money AS amount, order_no AS reference, "
            "         create_time AS at FROM pay_clock_day WHERE clock_day BETWEEN %s AND %s"
            "  UNION ALL"
            "  SELECT id, 1, uid, clock_day, 2, clock_money, payout_no, red_time FROM pay_clock_day"
            "  WHERE clock_day BETWEEN %s AND %s AND red_status = 2"
            ") AS rows ORDER BY at, id, n",
            [first, last_day, first, last_day],
        )
        cursor.execute(
            "INSERT INTO pay_clock_user (uid, nickname, mobile, source_uid, is_remind, spend_money, income_money, "
            "clock_max_money, clock_num, clock_day_num, long_day_num, yesterday_time, toast_day, create_time, "
            "update_time) "
            "SELECT uid, min(nickname), min(mobile), min(source_uid), false, sum(order_money), sum(clock_money), "
            "max(clock_money), count(*), count(*) FILTER (WHERE clock_status = 2), 0, max(clock_time), NULL, "
            "min(create_time), max(coalesce(red_time, create_time)) "
            "FROM pay_clock_day WHERE clock_day BETWEEN %s AND %s GROUP BY uid ORDER BY uid "
            "ON CONFLICT (uid) DO NOTHING",
            [first, last_day],
        )
        conn.commit()
    with raw_connect(url) as conn:
        for table in (*TABLES, "pay_clock_user"):
            conn.execute(f"VACUUM ANALYZE {table}")
        if not _complete(conn, first, last_day, days, per_day):
            raise RuntimeError(f"history {first} … {last_day} incomplete after building it")
    return {**summary, "built": True, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a bench database, migrated")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--last-day", type=date.fromisoformat, default=date(2000, 12, 31))
    parser.add_argument("--players", type=int, default=None, help="uids in the pool (default per_day * 3 // 2)")
    parser.add_argument("--uid-start", type=int, default=1)
    args = parser.parse_args()
    done = build_history(
        args.database_url,
        days=args.days,
        per_day=args.per_day,
        last_day=args.last_day,
        players=args.players,
        uid_start=args.uid_start,
    )
    what = f"built in {done['seconds']} s" if done["built"] else "already there"
    print(
        f"history {done['first_day']} … {done['last_day']}: {done['days']} days x {done['per_day']:,} "
        f"participations, {done['players']:,} players, {what}"
    )


if __name__ == "__main__":
    main()
