"""Writing many rows at once, below the ORM: the importer's inserts and updates.

On PostgreSQL rows go in with COPY (an order of magnitude faster than INSERT ... VALUES through
bulk_create, see bench/imports.py) and updates through a temporary table; elsewhere (SQLite, the
embedded mode) with executemany. Values must already be what the column stores: str, int, bool,
datetime or None. Saves made here bypass Model.save() and signals on purpose: the importer
computes what save() would (search text, history rows) itself, in bulk.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection, models, transaction

Row = Sequence[Any]
log = logging.getLogger(__name__)


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _columns(names: Sequence[str]) -> str:
    return ", ".join(connection.ops.quote_name(name) for name in names)


def _value(value: Any) -> Any:
    # What the ORM would store: SQLite keeps datetimes as naive UTC text, and the sqlite3
    # module would otherwise write "+00:00" after them, which lookups would not match.
    if isinstance(value, datetime) and not is_postgresql():
        return connection.ops.adapt_datetimefield_value(value)
    return value


def _row(row: Row) -> list[Any]:
    return [_value(value) for value in row]


def _pk(model: type[models.Model]) -> str:
    return str(model._meta.pk.column)


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """`count` fresh primary keys for `model`, so that rows can point at each other before any
    is written. Must run inside the import's transaction."""
    if count == 0:
        return []
    table = model._meta.db_table
    pk = _pk(model)
    with connection.cursor() as cursor:
        if is_postgresql():
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, pk, count],
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite has one writer at a time: once this transaction has written, nobody else can
        # take these numbers. The sequence table keeps AUTOINCREMENT from reusing them later.
        cursor.execute(
            f"SELECT COALESCE(MAX({connection.ops.quote_name(pk)}), 0) FROM {_table(model)}"
        )
        start = cursor.fetchone()[0] + 1
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        found = cursor.fetchone()
        start = max(start, (found[0] if found else 0) + 1)
        ids = list(range(start, start + count))
        # Claim them now, before another connection could read the same maximum.
        if found:
            cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [ids[-1], table])
        else:
            cursor.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, ids[-1]]
            )
        return ids


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Row]) -> None:
    if not rows:
        return
    with connection.cursor() as cursor:
        if is_postgresql():
            copy_sql = f"COPY {_table(model)} ({_columns(columns)}) FROM STDIN"
            with cursor.cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {_table(model)} ({_columns(columns)}) VALUES ({placeholders})",
                [_row(row) for row in rows],
            )


def update_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Row]) -> None:
    """UPDATE `columns` of the rows whose primary key is each row's first value."""
    if not rows:
        return
    pk = _pk(model)
    with connection.cursor() as cursor:
        if is_postgresql():
            # A temporary table shaped like the target (same types), filled by COPY, then one
            # UPDATE ... FROM: one round trip per chunk instead of one per row.
            temp = connection.ops.quote_name(f"import_update_{model._meta.db_table}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {temp} ON COMMIT DROP AS "
                f"SELECT {_columns([pk, *columns])} FROM {_table(model)} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {temp}")
            with cursor.cursor.copy(f"COPY {temp} ({_columns([pk, *columns])}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            assignments = ", ".join(
                f"{connection.ops.quote_name(name)} = source.{connection.ops.quote_name(name)}"
                for name in columns
            )
            key = connection.ops.quote_name(pk)
            cursor.execute(
                f"UPDATE {_table(model)} AS target SET {assignments} FROM {temp} AS source "
                f"WHERE target.{key} = source.{key}"
            )
        else:
            assignments = ", ".join(f"{connection.ops.quote_name(name)} = %s" for name in columns)
            cursor.executemany(
                f"UPDATE {_table(model)} SET {assignments} "
                f"WHERE {connection.ops.quote_name(pk)} = %s",
                [_row([*row[1:], row[0]]) for row in rows],
            )


def delete_rows(model: type[models.Model], column: str, values: Sequence[Any]) -> None:
    """DELETE the rows whose `column` is one of `values`."""
    if not values:
        return
    with connection.cursor() as cursor:
        for start in range(0, len(values), 5000):
            condition, params = one_of(
                connection.ops.quote_name(column), values[start : start + 5000]
            )
            cursor.execute(f"DELETE FROM {_table(model)} WHERE {condition}", params)


def _in(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def one_of(expression: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """SQL saying `expression` is one of `values`, and its parameters.

    PostgreSQL gets one array parameter: a list of thousands of placeholders costs more to build
    and parse (in psycopg and in the server) than the query itself.
    """
    if not values:
        return "FALSE", []
    if is_postgresql():
        literal, kind = array_literal(values)
        return f"{expression} = ANY(%s::{kind})", [literal]
    return f"{expression} IN ({_in(values) or 'NULL'})", list(values)


def array_literal(values: Sequence[Any]) -> tuple[str, str]:
    """A PostgreSQL array as its text form, and its type: integers as bigint[], anything else as
    text[]. psycopg adapts a Python list element by element in Python, which cost the importer
    more than the lookups the arrays were for."""
    if all(value is None or type(value) is int for value in values):
        return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}", "bigint[]"
    # Every element quoted, so that no text (NULL, commas, braces, spaces) means anything else.
    quoted = (
        "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
        for v in values
    )
    return "{" + ",".join(quoted) + "}", "text[]"


def select(
    sql: str, expression: str, values: Sequence[Any], params: Sequence[Any] = ()
) -> list[Any]:
    """Rows of `sql` (with `{where}` where the condition goes) for `expression` in `values`."""
    if not values:
        return []
    rows: list[Any] = []
    with connection.cursor() as cursor:
        for start in range(0, len(values), 5000):
            condition, condition_params = one_of(expression, values[start : start + 5000])
            cursor.execute(sql.replace("{where}", condition), [*params, *condition_params])
            rows += cursor.fetchall()
    return rows


def history_copy(
    *,
    model: type[models.Model],
    history: type[models.Model],
    ids: Sequence[int],
    created: Collection[int],
    stamp: datetime,
    reason: str | None,
    user_id: int | None,
) -> None:
    """simple-history's rows for records just written: a copy of each row, made by the database
    (INSERT ... SELECT), "+" for the `created` ones and "~" for the others."""
    if not ids:
        return
    pk = _pk(model)
    tracked = [
        str(f.column)
        for f in history._meta.concrete_fields
        if not f.name.startswith("history_") and f.column is not None
    ]
    q = connection.ops.quote_name
    new: list[int | None] = list(created) or [None]
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 5000):
            batch = list(ids[start : start + 5000])
            is_new, is_new_params = one_of(f"source.{q(pk)}", new)
            wanted, wanted_params = one_of(f"source.{q(pk)}", batch)
            cursor.execute(
                f"INSERT INTO {_table(history)} ({_columns(tracked)}, history_date, "
                "history_change_reason, history_type, history_user_id) "
                f"SELECT {', '.join(f'source.{q(c)}' for c in tracked)}, %s, %s, "
                f"CASE WHEN {is_new} THEN '+' ELSE '~' END, %s "
                f"FROM {_table(model)} AS source WHERE {wanted}",
                [_value(stamp), reason, *is_new_params, user_id, *wanted_params],
            )


def history_snapshot(
    *,
    snapshot: type[models.Model],
    through: type[models.Model],
    history: type[models.Model],
    ids: Sequence[int],
    stamp: datetime,
) -> None:
    """simple-history keeps, for each version, the many-to-many rows as they were: copied from
    the link table for the versions written at `stamp` (by history_copy)."""
    if not ids:
        return
    owner, target = (str(f.column) for f in through._meta.concrete_fields if f.is_relation)
    q = connection.ops.quote_name
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 5000):
            # The versions just written drive the join and the list of ids filters them: put on
            # the link table instead, the list became an index condition of every inner scan
            # (ids × ids probes) whenever the planner, which has no statistics yet for a
            # timestamp written a moment ago, chose a nested loop.
            wanted, wanted_params = one_of("version.id", ids[start : start + 5000])
            cursor.execute(
                f"INSERT INTO {_table(snapshot)} (id, {q(owner)}, {q(target)}, history_id) "
                f"SELECT link.id, link.{q(owner)}, link.{q(target)}, version.history_id "
                f"FROM {_table(history)} AS version JOIN {_table(through)} AS link "
                f"ON link.{q(owner)} = version.id "
                f"WHERE version.history_date = %s AND {wanted}",
                [_value(stamp), *wanted_params],
            )


def analyze_if_changed(
    model: type[models.Model], changed: int, also: Sequence[type[models.Model]]
) -> bool:
    """ANALYZE `model`'s table and the `also` tables when `changed` rows of the first are a share
    of it that PostgreSQL's autovacuum would analyze it for (50 rows and a tenth of the table).

    A bulk load changes what the planner assumes about the tables (their size, the spread of
    their values), and until it reads new statistics it may plan the next import's lookups and
    history joins for the tables as they were: on a freshly loaded database, nearly twice the
    importer's database time (bench/imports.py). Autovacuum would analyze them a minute later,
    if it runs at all; the next file may come sooner.

    Run inside the import's transaction, so the statistics describe the rows as the import
    leaves them (a rollback undoes them, except for the tables' size estimates, which PostgreSQL
    writes in place). Statistics are a help, never a condition: a table someone else is
    vacuuming or indexing is skipped rather than waited for (SKIP_LOCKED), and an error (a
    timeout, a role that may not analyze) is logged and leaves the import as it was. True if it
    asked for the statistics.
    """
    if not is_postgresql() or changed < 50:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [_table(model)])
        found = cursor.fetchone()
    # -1: never analyzed (or vacuumed) since it was created.
    rows = found[0] if found else -1
    if rows >= 0 and changed < 50 + 0.1 * rows:
        return False
    tables = ", ".join(_table(table) for table in (model, *also))
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"ANALYZE (SKIP_LOCKED) {tables}")
    except DatabaseError:
        log.warning("could not analyze %s after an import", tables, exc_info=True)
    return True
