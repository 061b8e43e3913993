"""PostgreSQL's binary ``COPY`` file format, the framing both directions of settlement use (the winners read out
in :mod:`clock_app.winners`, the packets written in :mod:`clock_app.services.settlement`): a signature, flags
and header-extension length before the rows, a field count of -1 after them. Each row is its field count
(int16) and each field's length (int32) and bytes, big-endian."""

HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"
