"""Leave free space in ``pay_clock_day``'s pages on PostgreSQL.

Settlement writes every winner's ``red_money`` and payouts mark every winner paid. None of the columns those
steps write is indexed, so with room left in each page PostgreSQL can keep the new row version on the same
page (a HOT update) instead of inserting new entries into every index. Other databases ignore this.
"""

from django.db import migrations

FILLFACTOR = 70


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE pay_clock_day SET (fillfactor = {FILLFACTOR})")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE pay_clock_day RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("clock_app", "0001_initial")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor, elidable=False)]
