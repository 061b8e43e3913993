"""Leave a fifth of every ``pay_clock_user`` page free (PostgreSQL), so a player's daily updates stay HOT.

A player's row changes a few times a day — the stake (``spend_money``, ``clock_num``), the check-in's streak,
the packet (``income_money``) — and at 05:00 every participant's row is updated within minutes. The check-in's
columns are in no index, so PostgreSQL can keep the new version on the same page (a HOT update: no new entry
in the table's three indexes, less WAL) — but only if the page has room. At the default fillfactor (100) a
freshly written or vacuumed table has none: ``bench/rush.py`` saw between 0 and 85 % of the streak updates HOT
depending on what the pages had been through. The price is a table a quarter larger. Other databases ignore
this.
"""

from django.db import migrations

FILLFACTOR = 80


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE pay_clock_user SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE pay_clock_user RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("clock_app", "0007_reminders")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False)]
