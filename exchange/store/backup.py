"""Logical, store-neutral backups: ``exchange admin backup FILE`` / ``admin restore FILE``.

The file is gzip'd JSON lines:

1. a header ``{"format": "exchange-backup", "version": 1, "schema_version": N,
   "created": TIMESTAMP, "dialect": "sqlite"|"postgres"}``;
2. one line per row of every table, parents before children:
   ``{"table": NAME, "row": {COLUMN: VALUE, …}}`` (bytes as ``{"base64": "…"}``);
3. a trailer ``{"end": true, "tables": {NAME: ROWS, …}}``, which restore checks, so a cut-off
   file is refused rather than half restored.

A backup reads every table in one consistent snapshot (SQLite: one read transaction, which
WAL isolates from writers; PostgreSQL: one REPEATABLE READ transaction), so it runs while the
exchange serves. A restore writes everything in one transaction into a database that holds no
members and no objects, then brings the ingest clock up to what it holds. Both stores share
one schema, so a backup of either restores into either: that is how an operator moves from
SQLite to PostgreSQL.

Tables are found in the database's own catalog, so a table a later migration adds is backed
up without a change here; ``TABLE_ORDER`` only breaks ties between tables that do not
reference each other, so files list tables in a familiar order.
"""

from __future__ import annotations

import base64
import gzip
import os
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from exchange.errors import InvalidInput
from exchange.store.base import Store
from exchange.store.rows import Tx
from exchange.store.sql import SqlStore
from exchange.timeutil import format_ts, now, parse_ts

FORMAT = "exchange-backup"
VERSION = 1
BATCH_ROWS = 1000

# Dependency order of the exchange's tables (parents first). Tables not listed here come
# after these, still after every table they reference.
TABLE_ORDER: tuple[str, ...] = (
    "secrets",
    "members",
    "tokens",
    "keys",
    "sharing_groups",
    "group_members",
    "rules",
    "rule_values",
    "objects",
    "object_audience",
    "object_ends",
    "object_markings",
    "audience_markings",
    "statuses",
    "deliveries",
    "clock",
)
# Not data: the schema version is in the header (migrations create the table); rate_counts
# holds per-minute request counters that mean nothing a minute later.
SKIPPED = frozenset({"schema_version", "rate_counts"})
# A restore target must hold none of these.
MUST_BE_EMPTY = ("members", "objects")
INTEGER_TYPES = frozenset({"integer", "bigint", "smallint", "int", "int2", "int4", "int8"})


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]  # declared (SQLite) or data_type (PostgreSQL), lowercase
    key: tuple[str, ...]  # primary key: pages are read in its order
    parents: frozenset[str] = field(default_factory=frozenset)


@dataclass
class BackupSummary:
    file: str
    schema_version: int
    tables: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def _sql(store: Store) -> SqlStore:
    if not isinstance(store, SqlStore):
        raise InvalidInput("backup and restore need an SQL store (SQLite or PostgreSQL)")
    return store


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- the catalog ------------------------------------------------------------------------------


async def _tables(tx: Tx, dialect: str) -> list[Table]:
    """Every data table of the database, parents before children."""
    if dialect == "sqlite":
        names = [
            r[0]
            for r in await tx.fetchall(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
    else:
        names = [
            r[0]
            for r in await tx.fetchall(
                "SELECT table_name::text FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        ]
    tables = [await _table(tx, dialect, name) for name in names if name not in SKIPPED]
    return _ordered(tables)


async def _table(tx: Tx, dialect: str, name: str) -> Table:
    if dialect == "sqlite":
        cols = await tx.fetchall(
            "SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid", (name,)
        )
        key = tuple(c[0] for c in sorted((c for c in cols if int(c[2]) > 0), key=lambda c: c[2]))
        parents = {
            r[0]
            for r in await tx.fetchall('SELECT "table" FROM pragma_foreign_key_list(?)', (name,))
        }
        return Table(
            name,
            tuple(c[0] for c in cols),
            tuple(str(c[1]).lower() for c in cols),
            key,
            frozenset(parents - {name}),
        )
    cols = await tx.fetchall(
        "SELECT column_name::text, data_type::text FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name::text = ?"
        " ORDER BY ordinal_position",
        (name,),
    )
    key_rows = await tx.fetchall(
        "SELECT k.column_name::text FROM information_schema.table_constraints c"
        " JOIN information_schema.key_column_usage k"
        " ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name"
        " WHERE c.table_schema = current_schema() AND c.table_name::text = ?"
        " AND c.constraint_type = 'PRIMARY KEY' ORDER BY k.ordinal_position",
        (name,),
    )
    parent_rows = await tx.fetchall(
        "SELECT DISTINCT p.relname::text FROM pg_constraint f"
        " JOIN pg_class c ON c.oid = f.conrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_class p ON p.oid = f.confrelid"
        " WHERE f.contype = 'f' AND n.nspname = current_schema() AND c.relname::text = ?",
        (name,),
    )
    return Table(
        name,
        tuple(c[0] for c in cols),
        tuple(str(c[1]).lower() for c in cols),
        tuple(r[0] for r in key_rows),
        frozenset({r[0] for r in parent_rows} - {name}),
    )


def _ordered(tables: Sequence[Table]) -> list[Table]:
    """Parents before children; otherwise TABLE_ORDER, then by name."""
    rank = {name: i for i, name in enumerate(TABLE_ORDER)}
    pending = sorted(tables, key=lambda t: (rank.get(t.name, len(rank)), t.name))
    known = {t.name for t in tables}
    done: list[Table] = []
    placed: set[str] = set()
    while pending:
        for table in pending:
            if (table.parents & known) <= placed:
                break
        else:  # a reference cycle: keep the preferred order
            table = pending[0]
        pending.remove(table)
        done.append(table)
        placed.add(table.name)
    return done


async def _schema_version(tx: Tx) -> int:
    row = await tx.fetchone("SELECT MAX(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0


# --- values -----------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    """orjson's fallback for what JSON has no type for."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


def _decode(value: Any, column_type: str) -> Any:
    """A value read from the file, as the target column takes it."""
    if isinstance(value, dict):
        if set(value) != {"base64"}:
            raise InvalidInput("the backup holds a value that is neither plain nor base64")
        value = base64.b64decode(value["base64"])
    if value is None:
        return None
    t = column_type
    if t in ("bytea", "blob"):
        return value if isinstance(value, bytes) else str(value).encode("utf-8")
    if t in INTEGER_TYPES:
        return int(value)
    if t == "boolean":
        return bool(value)
    if t in ("real", "double precision") or t.startswith("float"):
        return float(value)
    if t == "numeric" or t.startswith(("numeric", "decimal")):
        return Decimal(str(value))
    if t.startswith("timestamp"):
        from datetime import datetime

        return datetime.fromisoformat(str(value))
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, bool | int | float) and t in (
        "text",
        "character varying",
        "json",
        "jsonb",
    ):
        return str(value)
    return value


# --- backup -----------------------------------------------------------------------------------


async def _rows(tx: Tx, table: Table) -> AsyncIterator[Sequence[Any]]:
    """Every row of a table, a page at a time in primary-key order (keyset paging)."""
    cols = ", ".join(_q(c) for c in table.columns)
    if not table.key:
        order = ", ".join(_q(c) for c in table.columns)
        for row in await tx.fetchall(f"SELECT {cols} FROM {_q(table.name)} ORDER BY {order}"):
            yield row
        return
    key_index = [table.columns.index(k) for k in table.key]
    key_cols = ", ".join(_q(k) for k in table.key)
    after: list[Any] | None = None
    while True:
        if after is None:
            sql = f"SELECT {cols} FROM {_q(table.name)} ORDER BY {key_cols} LIMIT ?"
            params: list[Any] = [BATCH_ROWS]
        else:
            marks = ", ".join("?" for _ in table.key)
            sql = (
                f"SELECT {cols} FROM {_q(table.name)} WHERE ({key_cols}) > ({marks})"
                f" ORDER BY {key_cols} LIMIT ?"
            )
            params = [*after, BATCH_ROWS]
        page = await tx.fetchall(sql, params)
        for row in page:
            yield row
        if len(page) < BATCH_ROWS:
            return
        after = [page[-1][i] for i in key_index]


def _line(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value, default=_encode) + b"\n"


async def backup(store: Store, path: str | os.PathLike[str]) -> BackupSummary:
    """Write every table to ``path`` (gzip'd JSON lines, mode 0600: it holds the exchange's
    secrets), from one consistent snapshot, while the exchange may be serving."""
    sql = _sql(store)
    target = Path(path)
    if not target.parent.is_dir():
        raise InvalidInput(f"no folder {target.parent} for the backup file")
    if target.is_dir():
        raise InvalidInput(f"{target} is a folder, not a file")
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    counts: dict[str, int] = {}
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise InvalidInput(f"cannot write {partial}: {exc.strerror}") from exc
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(filename=target.name, mode="wb", fileobj=raw, compresslevel=6) as out,
        ):
            async with sql.transaction() as tx:
                if sql.dialect == "postgres":
                    # First statement of the transaction: one snapshot for every table.
                    await tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                version = await _schema_version(tx)
                out.write(
                    _line(
                        {
                            "format": FORMAT,
                            "version": VERSION,
                            "schema_version": version,
                            "created": format_ts(now()),
                            "dialect": sql.dialect,
                        }
                    )
                )
                for table in await _tables(tx, sql.dialect):
                    counts[table.name] = 0
                    async for row in _rows(tx, table):
                        out.write(
                            _line(
                                {
                                    "table": table.name,
                                    "row": dict(zip(table.columns, row, strict=True)),
                                }
                            )
                        )
                        counts[table.name] += 1
            out.write(_line({"end": True, "tables": counts}))
            out.flush()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupSummary(file=str(target), schema_version=version, tables=counts)


# --- restore ----------------------------------------------------------------------------------


def _lines(handle: Iterable[bytes], name: str) -> Iterator[dict[str, Any]]:
    number = 0
    try:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            value = orjson.loads(text)
            if not isinstance(value, dict):
                raise InvalidInput(f"{name} line {number} is not a JSON object")
            yield value
    except (EOFError, zlib.error) as exc:
        raise InvalidInput(f"{name} is cut off or damaged after line {number}") from exc
    except gzip.BadGzipFile as exc:
        raise InvalidInput(f"{name} is not a gzip'd exchange backup") from exc
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{name} line {number + 1} is not JSON") from exc


def _check_header(header: dict[str, Any] | None, name: str) -> int:
    if header is None or header.get("format") != FORMAT:
        raise InvalidInput(f"{name} is not an exchange backup")
    if header.get("version") != VERSION:
        raise InvalidInput(
            f"{name} is an exchange backup of format version {header.get('version')}; "
            f"this exchange reads version {VERSION}"
        )
    version = header.get("schema_version")
    if not isinstance(version, int):
        raise InvalidInput(f"{name} has no schema_version in its header")
    return version


def _open_checked(path: str | os.PathLike[str]) -> Path:
    source = Path(path)
    if not source.is_file():
        raise InvalidInput(f"no backup file {source}")
    if not os.access(source, os.R_OK):
        raise InvalidInput(f"cannot read {source}: permission denied")
    return source


def read_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a backup file, checked (before a restore touches any database)."""
    source = _open_checked(path)
    with gzip.open(source, "rb") as handle:
        header = next(_lines(handle, str(source)), None)
    _check_header(header, str(source))
    assert header is not None
    return header


async def restore(store: Store, path: str | os.PathLike[str]) -> BackupSummary:
    """Load a backup into an empty database, in one transaction."""
    sql = _sql(store)
    source = _open_checked(path)
    name = str(source)
    counts: dict[str, int] = {}
    with gzip.open(source, "rb") as handle:
        lines = _lines(handle, name)
        backup_version = _check_header(next(lines, None), name)
        async with sql.transaction(write=True) as tx:
            await sql.lock_ingest(tx)
            current = await _schema_version(tx)
            if backup_version != current:
                raise InvalidInput(
                    f"{name} has schema version {backup_version}, this database {current}: "
                    "restore with the exchange release that made the backup, then upgrade"
                )
            tables = {t.name: t for t in await _tables(tx, sql.dialect)}
            for guard in MUST_BE_EMPTY:
                if guard in tables and await tx.fetchone(f"SELECT 1 FROM {_q(guard)} LIMIT 1"):
                    raise InvalidInput(
                        f"the database {_safe_url(sql.url)} is not empty (it holds {guard}): "
                        "restore only into a new, empty database"
                    )
            # What a new database may hold (the clock row migrations insert, secrets of an
            # interrupted start) gives way to the backup's.
            for table in reversed(list(tables.values())):
                await tx.execute(f"DELETE FROM {_q(table.name)}")
            trailer = await _load(tx, lines, tables, counts, name)
            expected = trailer.get("tables")
            if not isinstance(expected, dict) or {k: v for k, v in expected.items() if v} != {
                k: v for k, v in counts.items() if v
            }:
                raise InvalidInput(f"{name} does not hold the rows its trailer counts")
            counts = {table: counts.get(table, 0) for table in [*expected, *counts]}
            await _fix_clock(tx, tables)
            if sql.dialect == "postgres":
                await _fix_sequences(tx)
    return BackupSummary(file=name, schema_version=backup_version, tables=counts)


async def _load(
    tx: Tx,
    lines: Iterator[dict[str, Any]],
    tables: dict[str, Table],
    counts: dict[str, int],
    name: str,
) -> dict[str, Any]:
    """Insert every row line; return the trailer."""
    batch: list[list[Any]] = []
    batch_table: Table | None = None
    batch_cols: tuple[str, ...] = ()

    async def flush() -> None:
        if batch and batch_table is not None:
            marks = ", ".join("?" for _ in batch_cols)
            cols = ", ".join(_q(c) for c in batch_cols)
            await tx.executemany(
                f"INSERT INTO {_q(batch_table.name)} ({cols}) VALUES ({marks})", batch
            )
        batch.clear()

    for line in lines:
        if line.get("end") is True:
            await flush()
            return line
        table_name, row = line.get("table"), line.get("row")
        if not isinstance(table_name, str) or not isinstance(row, dict):
            raise InvalidInput(f"{name} holds a line that is neither a row nor the trailer")
        table = tables.get(table_name)
        if table is None:
            raise InvalidInput(f"{name} holds table {table_name!r}, which this database lacks")
        cols = tuple(row)
        if table is not batch_table or cols != batch_cols or len(batch) >= BATCH_ROWS:
            await flush()
            unknown = set(cols) - set(table.columns)
            if unknown:
                raise InvalidInput(
                    f"{name}: table {table_name} has no column {sorted(unknown)[0]!r} here"
                )
            batch_table, batch_cols = table, cols
        types = [table.types[table.columns.index(c)] for c in cols]
        batch.append([_decode(v, t) for v, t in zip(row.values(), types, strict=True)])
        counts[table_name] = counts.get(table_name, 0) + 1
    raise InvalidInput(f"{name} is cut off: it has no trailer line")


async def _fix_clock(tx: Tx, tables: dict[str, Table]) -> None:
    """The ingest clock must lie at or after every stored object, so new objects sort last."""
    if "clock" not in tables or "objects" not in tables:
        return
    held = await tx.fetchone("SELECT MAX(seq), MAX(date_added) FROM objects")
    clock = await tx.fetchone("SELECT last_date_added, last_seq FROM clock WHERE id = 1")
    seq = int(held[0]) if held and held[0] is not None else 0
    stamp = parse_ts(held[1]) if held and held[1] else parse_ts("1970-01-01T00:00:00Z")
    if clock is None:
        await tx.execute(
            "INSERT INTO clock (id, last_date_added, last_seq) VALUES (1, ?, ?)",
            (format_ts(stamp), seq),
        )
        return
    await tx.execute(
        "UPDATE clock SET last_date_added = ?, last_seq = ? WHERE id = 1",
        (format_ts(max(stamp, parse_ts(clock[0]))), max(seq, int(clock[1]))),
    )


async def _fix_sequences(tx: Tx) -> None:
    """PostgreSQL sequences behind serial or identity columns continue after the rows loaded."""
    rows = await tx.fetchall(
        "SELECT table_name::text, column_name::text FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
        " AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')"
    )
    for table, column in rows:
        await tx.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?),"
            f" COALESCE((SELECT MAX({_q(column)}) FROM {_q(table)}), 0) + 1, false)",
            (_q(table), column),
        )


def _safe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    userinfo, _, host = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"
