"""A round's winners in the documented order (ascending pseudonym), held in flat arrays.

Settlement assigns packet ``i`` to the ``i``-th winner of this order; the statement lists winners in it;
the audit and ``clock_verify`` rely on it. The database sorts (``ORDER BY`` the stored pseudonym, or for a
format-1 round the one it computes), so a million winners cost three ``array('q')`` and one ``bytearray`` of
32-byte pseudonyms — 56 bytes a winner — and no model instances or dicts.

On PostgreSQL the list comes as one binary ``COPY (SELECT … ORDER BY …) TO STDOUT`` of fixed 56-byte records
(id, raw pseudonym, stake, packet, big-endian) into one ``bytearray``, cut into the arrays with strided slice
copies: no Python object per winner (a row per winner through the ORM took ~2 s a million). One ordered
``string_agg`` into a single ``bytea`` is a little faster but holds the records three times at once (libpq's
input buffer, the result, the bytes): ~170 MB more at a million winners. Elsewhere rows are streamed in chunks.
"""

from __future__ import annotations

import select
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

from django.db import DatabaseError, connection

from . import pgcopy
from .dbfunctions import InByteOrder, Pseudonym
from .models import ClockStatus, Participation
from .statement import line_chunks

CHUNK = 20_000
RECORD = 56  # id (8) + pseudonym (32) + stake (8) + packet (8)
# Each row of the binary COPY (clock_app.pgcopy): its field count (1) and the field's length (56), then the record.
_ROW_HEAD = b"\x00\x01" + RECORD.to_bytes(4, "big")
_COPY_ROW = len(_ROW_HEAD) + RECORD
_ROW_BYTES = [bytes([b]) for b in _ROW_HEAD]


def winners_in_order(the_round: Any):
    """The round's winners as a queryset ordered by pseudonym, annotated ``public_name`` (its hex)."""
    winners = Participation.objects.filter(clock_day=the_round.clock_day, clock_status=ClockStatus.CLOCKED_IN)
    if the_round.statement_version == 1:
        name = Pseudonym(the_round.split_seed, the_round.clock_day)
    else:
        name = InByteOrder("pseudonym")
    return winners.annotate(public_name=name).order_by("public_name")


class Winners:
    def __init__(self) -> None:
        self.ids, self.stakes, self.packets = array("q"), array("q"), array("q")
        self._names = bytearray()

    @classmethod
    def load(cls, the_round: Any) -> Winners:
        return cls.loading(the_round)()

    @classmethod
    def loading(cls, the_round: Any) -> Callable[[], Winners]:
        """Start loading the winners; the function returned finishes it and returns them.

        On PostgreSQL the query is sent at once and the database scans and sorts while the caller computes
        (settlement splits the bonus meanwhile), with no thread. Until the function is called the connection
        is busy: call it before any other query — also when the caller's own work failed, it drains the
        connection. Elsewhere the function does the whole load."""
        if connection.vendor != "postgresql":
            return partial(cls._load_rows, the_round)
        if the_round.statement_version == 1:  # dbfunctions.Pseudonym, as raw bytes: bytea order is hex order
            name = "sha256(convert_to(%s::text || uid::text, 'UTF8'))"
            params = [f"{the_round.split_seed}:{the_round.clock_day.isoformat()}:"]
        else:
            name, params = "decode(pseudonym, 'hex')", []
        sql = (
            f"COPY (SELECT int8send(id) || {name} || int8send(order_money) || int8send(red_money) "
            f"FROM pay_clock_day WHERE clock_day = %s AND clock_status = %s ORDER BY {name}) TO STDOUT (FORMAT BINARY)"
        )
        import psycopg  # the app's PostgreSQL backend needs it

        connection.ensure_connection()
        pg = connection.connection
        query = psycopg.ClientCursor(pg).mogrify(
            sql, [*params, the_round.clock_day, int(ClockStatus.CLOCKED_IN), *params]
        )
        pgconn = pg.pgconn
        pgconn.send_query(query.encode())
        while pgconn.flush():  # the connection is non-blocking: push the whole query out
            select.select([], [pgconn.socket], [])
        return partial(cls._receive, the_round, pgconn)

    @classmethod
    def _load_rows(cls, the_round: Any) -> Winners:
        winners = cls()
        rows = winners_in_order(the_round).values_list("id", "public_name", "order_money", "red_money")
        for pk, name, stake, packet in rows.iterator(chunk_size=CHUNK):
            winners.ids.append(pk)
            winners._names += bytes.fromhex(name)
            winners.stakes.append(stake)
            winners.packets.append(packet)  # red_money as stored
        return winners

    @classmethod
    def _receive(cls, the_round: Any, pgconn: Any) -> Winners:
        """PostgreSQL: read the COPY :meth:`loading` sent (libpq's own calls, blocking) and cut the fixed
        56-byte records into the arrays (see the module docstring)."""
        from psycopg.pq import ExecStatus

        data, size = bytearray(), 0
        result = pgconn.get_result()
        problem = None if result is not None and result.status == ExecStatus.COPY_OUT else result
        if problem is None:
            while True:
                size, chunk = pgconn.get_copy_data(0)
                if size < 0:
                    break
                data += chunk
            result = pgconn.get_result()
            if result is None or result.status != ExecStatus.COMMAND_OK:
                problem = result
        while pgconn.get_result() is not None:  # leave the connection idle (in the transaction)
            pass
        if problem is not None or size == -2:
            message = problem.error_message if problem is not None else pgconn.error_message
            raise DatabaseError(
                f"loading the winners of round {the_round.clock_day}: {message.decode(errors='replace')}"
            )
        count, rest = divmod(len(data) - len(pgcopy.HEADER) - len(pgcopy.TRAILER), _COPY_ROW)
        start = len(pgcopy.HEADER)
        if (
            rest
            or not data.startswith(pgcopy.HEADER)
            or not data.endswith(pgcopy.TRAILER)
            or any(data[start + k :: _COPY_ROW][:count] != byte * count for k, byte in enumerate(_ROW_BYTES))
        ):
            raise ValueError(f"round {the_round.clock_day}: a winner's pseudonym is not 64 hex characters")
        body = memoryview(data)[len(pgcopy.HEADER) + len(_ROW_HEAD) : len(data) - len(pgcopy.TRAILER)]
        winners = cls()
        winners.ids = _column(body, count, 0)
        winners._names = _strided(body, count, 8, 32)
        winners.stakes = _column(body, count, 40)
        winners.packets = _column(body, count, 48)
        body.release()
        return winners

    @property
    def stake_total(self) -> int:
        return sum(self.stakes)

    def __len__(self) -> int:
        return len(self.ids)

    def pseudonym(self, i: int) -> str:
        return self._names[32 * i : 32 * i + 32].hex()

    def line_chunks(self, packets: Sequence[int]) -> Iterator[bytes]:
        """The statement's winner lines for ``packets`` (in winner order), many lines a chunk: the same bytes
        as :meth:`lines` through :func:`statement.line_bytes`, without a Python step per winner."""
        return line_chunks(self._names, self.stakes, packets)

    def lines(self, packets: Sequence[int] | None = None) -> Iterator[tuple[str, int, int]]:
        """Statement rows ``(pseudonym, stake, packet)``: ``packets`` in winner order, or the stored
        ``red_money`` when not given."""
        packets = self.packets if packets is None else packets
        for i, packet in enumerate(packets):
            yield self.pseudonym(i), self.stakes[i], packet


def _strided(body: memoryview, count: int, offset: int, width: int) -> bytearray:
    """Field ``[offset, offset + width)`` of each of ``count`` COPY rows (``body`` starts at the first record),
    end to end: one strided slice copy per byte of the field, none per winner."""
    out = bytearray(width * count)
    for k in range(width):
        out[k::width] = body[offset + k :: _COPY_ROW]
    return out


def _column(body: memoryview, count: int, offset: int) -> array:
    """A big-endian int8 field of each record as an ``array('q')``."""
    column = array("q")
    column.frombytes(_strided(body, count, offset, 8))
    if sys.byteorder == "little":
        column.byteswap()
    return column
