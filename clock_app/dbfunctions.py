"""Database expressions for statements, so they stream in pseudonym order straight from an ``ORDER BY`` (flat
memory for any number of winners).

``InByteOrder(column)`` sorts a text column by its bytes, as Python sorts ``str`` (PostgreSQL's collation
might not). ``Pseudonym`` is a format-1 winner's pseudonym computed by the database,
``sha256(f"{seed}:{clock_day}:{uid}")`` as lowercase hex — exactly :func:`clock_app.randomness.pseudonym_v1`.
PostgreSQL computes it with its built-in ``sha256()`` (11+), MySQL with ``SHA2``; on SQLite the app registers
a ``clock_sha256`` SQL function on each new connection (see ``apps.py``).
"""

from __future__ import annotations

import hashlib
from datetime import date

from django.db import NotSupportedError
from django.db.models import CharField, F, Func, Value


class InByteOrder(Func):
    output_field = CharField()

    def __init__(self, column: str) -> None:
        super().__init__(F(column))

    def as_sql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            return f'({sql}) COLLATE "C"', params
        return sql, params  # SQLite compares text with BINARY by default; MySQL's *_bin would need a COLLATE


class Pseudonym(Func):
    output_field = CharField()

    def __init__(self, seed: str, clock_day: date) -> None:
        super().__init__(Value(f"{seed}:{clock_day.isoformat()}:"), F("uid"))

    def as_sql(self, compiler, connection, **extra_context):
        prefix_sql, prefix_params = compiler.compile(self.source_expressions[0])
        uid_sql, uid_params = compiler.compile(self.source_expressions[1])
        if connection.vendor == "postgresql":
            # COLLATE "C": order by bytes, as Python does, whatever the database's locale.
            sql = f"encode(sha256(convert_to(({prefix_sql})::text || ({uid_sql})::text, 'UTF8')), 'hex') COLLATE \"C\""
        elif connection.vendor == "sqlite":
            sql = f"clock_sha256({prefix_sql} || {uid_sql})"
        elif connection.vendor == "mysql":
            sql = f"SHA2(CONCAT({prefix_sql}, {uid_sql}), 256)"
        else:
            raise NotSupportedError(f"Pseudonym is not implemented for {connection.vendor}")
        return sql, (*prefix_params, *uid_params)


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def register_sqlite_functions(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: teach SQLite ``clock_sha256(text)``."""
    if connection.vendor == "sqlite":
        connection.connection.create_function("clock_sha256", 1, _sha256_hex, deterministic=True)
