"""A big, settled round with everything the operator looks at, built fast with COPY (for bench/dashboard.py and
bench/exports.py; not measured).

One round of N participations and their N paid orders: payments spread over the entry day (few at night, a
peak in the evening), 80 % of the players clocked in across the window with most of them early, settled for
real by ``round_settle``, then payouts in every state (70 % of the winners paid, 10 % awaiting their
confirmation, 5 % failed, 3 % pending at the channel, the rest owed), and a check-in reminder for 30 % of
the players. Only the bench day's rows are deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from datetime import date, timedelta
from datetime import time as clock_time

from benchlib import raw_connect  # bench/ is on sys.path

STAKE = 100  # fen
COPY_CHUNK = 50_000
SEED = "0b5e" * 16  # the round's split seed: a fixed one makes the build reproducible
WINNER_SHARE = 0.8
# Local hour of the entry day -> relative weight of payments in it (a quiet night, an evening peak).
HOURLY = [1, 1, 0, 0, 0, 0, 1, 3, 5, 5, 4, 4, 6, 5, 4, 4, 5, 6, 8, 9, 10, 9, 6, 3]

DAY_COLUMNS = (
    "uid, nickname, mobile, source_uid, red_status, clock_day, order_no, order_money, clock_money, red_money, "
    "discount_money, clock_status, clock_time, pay_result, red_time, payout_no, pseudonym, payout_attempts, "
    "payout_claimed_at, payout_renewals, create_time, update_time"
)
ORDER_COLUMNS = (
    "order_no, clock_day, user_id, transaction_id, buyer_id, order_status, pay_amount, discount_money, pay_result, "
    "pay_time, refund_status, refund_reason, refund_time, refund_result, refund_attempts, refund_claimed_at, "
    "create_time, update_time"
)


def _delete_day(url: str, day: date) -> None:
    with raw_connect(url) as conn:
        for table in (
            "pay_clock_reminder",
            "pay_clock_day",
            "pay_clock_order",
            "pay_clock_user_log",
            "pay_clock_audit",
        ):
            conn.execute(f"DELETE FROM {table} WHERE clock_day = %s", [day])
        conn.execute("DELETE FROM pay_clock WHERE clock_day = %s OR rollover_into = %s", [day, day])


def build(url: str, day: date, participants: int) -> None:
    """Round ``day`` with ``participants`` rows, settled, payouts in every state, reminders. Needs Django set up
    (``settle.setup_django``)."""
    from django.core.management import call_command
    from django.db import connection

    from clock_app import calendar
    from clock_app.models import Round
    from clock_app.randomness import seed_commitment
    from clock_app.services.rounds import round_open
    from clock_app.services.settlement import round_settle

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    _delete_day(url, day)
    round_open(day, now=calendar.at(day, clock_time(0, 1)))
    Round.objects.filter(clock_day=day).update(split_seed=SEED, seed_hash=seed_commitment(SEED))
    the_round = Round.objects.get(clock_day=day)
    connection.close()

    rng = random.Random(f"{day}:{participants}")
    midnight = calendar.at(day, clock_time(0))
    window_start = calendar.window(day, the_round)[0]
    tag = day.strftime("%Y%m%d")
    with raw_connect(url, autocommit=False) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY pay_clock_day ({DAY_COLUMNS}) FROM STDIN") as copy:
            for start in range(0, participants, COPY_CHUNK):
                lines = []
                for i in range(start, min(start + COPY_CHUNK, participants)):
                    hour = rng.choices(range(24), weights=HOURLY)[0]
                    paid = (midnight + timedelta(hours=hour, seconds=rng.randrange(3600))).isoformat()
                    if rng.random() < WINNER_SHARE:
                        # Most players clock in early: a skewed draw over the 180 minutes of the window.
                        clocked = window_start + timedelta(seconds=int(10_800 * rng.random() ** 2.2))
                        status, clock_at = 2, clocked.isoformat()
                    else:
                        status, clock_at = 1, "\\N"
                    order_no = f"B{tag}{i:010d}"
                    pseudonym = hashlib.sha256(f"{SEED}:{day}:{order_no}:T{order_no}".encode()).hexdigest()
                    lines.append(
                        f"{i + 1}\tplayer{i + 1}\t138{i + 1:08d}\topen-{i + 1}\t1\t{day}\t{order_no}\t{STAKE}\t0\t0"
                        f"\t0\t{status}\t{clock_at}\t\t\\N\tP{tag}{i:010d}P\t{pseudonym}\t0\t\\N\t0\t{paid}\t{paid}\n"
                    )
                copy.write("".join(lines))
        # Each participation's paid order, paid when the participation was created.
        cursor.execute(
            f"INSERT INTO pay_clock_order ({ORDER_COLUMNS}) "
            "SELECT order_no, clock_day, uid, 'T' || order_no, source_uid, 2, order_money, 0, '', create_time, 1, '', "
            "NULL, '', 0, NULL, create_time, create_time FROM pay_clock_day WHERE clock_day = %s",
            [day],
        )
        cursor.execute(
            "UPDATE pay_clock SET user_num = %s, clock_money = %s WHERE clock_day = %s",
            [participants, STAKE * participants, day],
        )
        conn.commit()
    with raw_connect(url) as conn:
        conn.execute("VACUUM ANALYZE pay_clock_day")
        conn.execute("VACUUM ANALYZE pay_clock_order")

    round_settle(day, now=calendar.red_open_at(day, the_round))
    paid_at = calendar.red_open_at(day, the_round).isoformat()
    with raw_connect(url) as conn:
        # Payout states by id: 70 % paid, 10 % awaiting confirmation, 5 % failed, 3 % pending, 12 % owed.
        conn.execute(
            "UPDATE pay_clock_day SET red_status = CASE WHEN id %% 100 < 70 THEN 2 WHEN id %% 100 < 80 THEN 5 "
            "WHEN id %% 100 < 85 THEN 4 WHEN id %% 100 < 88 THEN 3 ELSE 1 END, "
            "clock_money = CASE WHEN id %% 100 < 70 THEN order_money + red_money ELSE 0 END, "
            "red_time = CASE WHEN id %% 100 < 70 THEN %s::timestamptz END "
            "WHERE clock_day = %s AND clock_status = 2",
            [paid_at, day],
        )
        conn.execute(
            "INSERT INTO pay_clock_reminder (uid, clock_day, kind, remind_day, participation_id, status, attempts, "
            "result, sent_at, claim_token, claimed_at, create_time, update_time) "
            "SELECT uid, clock_day, 'checkin', clock_day + 1, id, "
            "CASE WHEN id %% 50 = 0 THEN 'refused' ELSE 'sent' END, "
            "1, '', %s::timestamptz, '', %s::timestamptz, %s::timestamptz, %s::timestamptz "
            "FROM pay_clock_day WHERE clock_day = %s AND id %% 10 < 3",
            [window_start.isoformat()] * 4 + [day],
        )
        conn.execute("VACUUM ANALYZE pay_clock_day")
        conn.execute("VACUUM ANALYZE pay_clock_reminder")
        rows = conn.execute("SELECT count(*) FROM pay_clock_day WHERE clock_day = %s", [day]).fetchone()[0]
    if rows != participants:
        sys.exit(f"built {rows} participations, expected {participants}")
    seconds = time.perf_counter() - started
    print(f"built round {day}: {participants:,} participations and orders, settled, in {seconds:.0f} s (not measured)")


def exists(url: str, day: date, participants: int) -> bool:
    """The round is already built with this many participations and settled (``--reuse``)."""
    with raw_connect(url) as conn:
        try:
            settled = conn.execute("SELECT settled_at FROM pay_clock WHERE clock_day = %s", [day]).fetchone()
            rows = conn.execute("SELECT count(*) FROM pay_clock_day WHERE clock_day = %s", [day]).fetchone()[0]
        except Exception:  # tables missing: a fresh database
            return False
    return bool(settled and settled[0]) and rows == participants
