"""A cursor whose statements PostgreSQL keeps prepared, for the two requests made most often: the check-in at
the 05:00 rush and the home summary every page polls.

Planning the summary's one query (the player's row and their status in two rounds) cost PostgreSQL more than
running it: prepared, the PostgreSQL CPU of a summary fell from 0.25 to 0.15–0.21 ms (``bench/rush.py``, its
"CPU ms per request" table; README, "Performance, measured"). Django's own cursors bind parameters on the
client and are never prepared, and Django turns psycopg's prepared statements off unless the project sets
``DATABASES[alias]["OPTIONS"]["prepare_threshold"]``: a connection pooler in transaction mode (PgBouncer before
1.21, or without ``max_prepared_statements``) would lose them between transactions. So these statements are
prepared only where the project allows it (the example project does); elsewhere, and on SQLite and MySQL,
:func:`hot_cursor` is Django's ordinary cursor.

The cursor is still Django's wrapper around it, so ``execute_wrapper`` hooks and error translation see these
statements as any other. While Django logs queries (``DEBUG``, ``CaptureQueriesContext``) it is Django's
ordinary cursor: its log shows a statement with its values, which it cannot do for a prepared one.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.utils import CursorWrapper


def _prepares(db) -> bool:
    """Whether ``db`` (connected by this call) lets psycopg prepare statements: PostgreSQL with
    ``OPTIONS["prepare_threshold"]`` set, and Django not logging its queries."""
    if db.vendor != "postgresql" or db.queries_logged:
        return False
    db.close_if_health_check_failed()  # as ``db.cursor()`` does, before connecting
    db.ensure_connection()
    return getattr(db.connection, "prepare_threshold", None) is not None


def prepares_statements() -> bool:
    """Whether :func:`hot_cursor` gives a preparing cursor on the default connection now."""
    return _prepares(connections[DEFAULT_DB_ALIAS])


def hot_cursor() -> CursorWrapper:
    """Django's cursor on the default connection; where prepared statements are allowed, one that binds its
    parameters on the server, so psycopg prepares each statement after ``prepare_threshold`` runs of it on a
    connection (0: at once), and PostgreSQL, after planning its first five runs, keeps a generic plan for the
    rest of the connection instead of planning every request.

    Parameters then travel with their types: pass ``date``, ``datetime`` and ``int`` objects, not strings.
    """
    db = connections[DEFAULT_DB_ALIAS]  # once: every attribute of the ``connection`` proxy is a lookup
    if _prepares(db):
        import psycopg  # a psycopg 3 connection: it has prepare_threshold

        # What ``db.cursor()`` does, with psycopg's server-binding cursor in place of Django's client-side one.
        db.validate_thread_sharing()
        with db.wrap_database_errors:
            return db.make_cursor(psycopg.Cursor(db.connection))
    return db.cursor()
