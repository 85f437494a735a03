"""Upkeep of the report's running totals (outreach/report_models.py): folding and rebuilding."""

from __future__ import annotations

from django.db import connection, transaction

from outreach import report_sql

TABLES = {
    "outreach_reportcount": "month, country, kind, key",
    "outreach_reportreach": "month, country, contact_id",
}


def report_counts_compact() -> int:
    """Fold the appended rows into one per key; returns how many rows that left. Readers see the
    same sums before and after, and rows appended meanwhile are left for the next run."""
    if connection.vendor != "postgresql":
        return 0
    folded = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL outreach.folding = 'on'")
        for table, columns in TABLES.items():
            cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608
            bound = cursor.fetchone()[0]
            if bound is None:
                continue
            # NULL months (the all-time rows) must group together: GROUP BY does that.
            cursor.execute(report_sql.COMPACT.format(table=table, columns=columns), [bound])
            folded += cursor.rowcount
        # SET LOCAL lasts as long as the outermost transaction: what a caller writes after this
        # must get its all-time copies again.
        cursor.execute("SET LOCAL outreach.folding = 'off'")
    return folded


def report_counts_rebuild() -> None:
    """Count everything again from the consultations (after a restore, or to be sure)."""
    if connection.vendor != "postgresql":
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(report_sql.REBUILD)
