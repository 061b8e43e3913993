"""The check-in as one PL/pgSQL function on PostgreSQL (``clock_check_in``), so the rush's statement is planned
once per connection instead of on every request.

``bench/rush.py`` measured the one-statement check-in (a writable CTE) spending more of PostgreSQL's time in
planning than in executing (``EXPLAIN ANALYZE``: 0.59 ms planning, 0.56 ms executing on a fresh connection;
the bare conditional UPDATE it is compared with plans in 0.07 ms). PL/pgSQL keeps its statements' plans for
the life of the connection, and — unlike a ``PREPARE`` — that needs no per-connection state the app must
track, so it also works behind a transaction-pooling PgBouncer.

The function also closes the window at the end of the whole check-in: it raises (rolling both rows back) when
the call ran longer than the time that was left in the window, including any wait for a row lock on either
row. It returns 0 (no row matched), 1 (checked in, the player has no row yet) or 2 (checked in and counted).
Other databases keep the portable two-statement transaction of ``services/checkin.py``.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION clock_check_in(
    p_uid bigint, p_day date, p_now timestamptz, p_time_left interval, p_yesterday timestamptz, p_today timestamptz
) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
    counted integer;
BEGIN
    UPDATE pay_clock_day SET clock_status = 2, clock_time = p_now, update_time = p_now
     WHERE uid = p_uid AND clock_day = p_day AND clock_status = 1
       AND EXISTS (SELECT 1 FROM pay_clock WHERE clock_day = p_day AND settled_at IS NULL);
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved = 0 THEN
        RETURN 0;
    END IF;
    UPDATE pay_clock_user SET clock_day_num = clock_day_num + 1,
           long_day_num = CASE WHEN yesterday_time >= p_yesterday AND yesterday_time < p_today
                               THEN long_day_num + 1 ELSE 1 END,
           yesterday_time = p_now, update_time = p_now
     WHERE uid = p_uid;
    GET DIAGNOSTICS counted = ROW_COUNT;
    IF clock_timestamp() >= statement_timestamp() + p_time_left THEN
        RAISE EXCEPTION 'clock_check_in: the window closed before the check-in was written'
              USING ERRCODE = 'CK001';
    END IF;
    RETURN 1 + counted;
END
$$
"""
DROP = "DROP FUNCTION IF EXISTS clock_check_in(bigint, date, timestamptz, interval, timestamptz, timestamptz)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("clock_app", "0008_pay_clock_user_fillfactor")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
