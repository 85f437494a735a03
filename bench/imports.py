"""Contact import speed: this importer against stock django-import-export and a bare PostgreSQL
COPY + INSERT ... ON CONFLICT, on the same generated file, against a database that already holds
BENCH_IMPORT_EXISTING contacts; and the peak memory of a dry run over a 1,000,000-row file.

The file: BENCH_IMPORT_ROWS rows, half of them people already in the database (matched by email,
with a changed trade and an added tag), half new; every row with a phone, a union and a role,
an employer, a country, languages and consent.
"""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, Row

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
EXISTING = int(os.environ.get("BENCH_IMPORT_EXISTING", "100000"))
STOCK_ROWS = int(os.environ.get("BENCH_IMPORT_STOCK_ROWS", "3000"))
MEMORY_ROWS = int(os.environ.get("BENCH_IMPORT_MEMORY_ROWS", "1000000"))
FULL = [
    "first_name", "last_name", "email", "phone", "union", "union_role", "employer", "country",
    "trade", "languages", "tags", "email_consent",
]  # fmt: skip
# The columns the stock resource imports too: the like-for-like comparison.
BASIC = ["first_name", "last_name", "email", "phone", "union", "country", "trade"]
FIRST = ["Anna", "Jürgen", "Ελένη", "Олена", "Søren", "Łukasz", "María", "Ayşe", "Jean", "Ivan"]
LAST = ["Kowalska", "Müller", "Οικονόμου", "Коваленко", "Jørgensen", "Wiśniewski", "García"]
TRADES = ["welder", "machinist", "electrician", "assembler", "engineer"]


def _person(index: int, unions: list[str]) -> dict[str, str]:
    # The same person for the same index, whichever file they are written to.
    rng = random.Random(index)
    return dict(zip(FULL, [
        rng.choice(FIRST),
        f"{rng.choice(LAST)}-{index}",
        f"person{index}@bench.example.org",
        f"+4930{10_000_000 + index}",
        rng.choice(unions),
        rng.choice(["member", "shop steward"]),
        f"Employer {index % 40}",
        "DE",
        rng.choice(TRADES),
        "de; en",
        "bench",
        rng.choice(["yes", "no", ""]),
    ], strict=True))  # fmt: skip


def write_file(
    path: Path, rows: int, *, existing: int, unions: list[str], columns: list[str], seed: int = 7
) -> None:
    """Half the rows update people 0..existing-1 (trade changed, a tag added), half are new."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for number in range(rows):
            if number % 2 == 0 and existing:
                person = _person(rng.randrange(existing), unions)
                person["trade"] = rng.choice(TRADES)
                person["tags"] = "bench; reviewed"
            else:
                person = _person(existing + number, unions)
            writer.writerow([person[column] for column in columns])


def _existing(count: int, unions: list[str], folder: Path) -> None:
    """The people already in the CRM, loaded with the importer itself (not measured)."""
    from crm.importing.files import read_table
    from crm.importing.headers import detect_mapping
    from crm.importing.services import contact_import

    path = folder / "existing.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FULL)
        for index in range(count):
            person = _person(index, unions)
            writer.writerow([person[column] for column in FULL])
    table = read_table(path)
    contact_import(table=table, mapping=detect_mapping(table.headers), dry_run=False)


def _ours(path: Path, *, dry_run: bool) -> tuple[float, dict[str, int]]:
    from django.db import transaction

    from crm.importing.files import read_table
    from crm.importing.headers import detect_mapping
    from crm.importing.services import contact_import

    table = read_table(path)
    start = time.perf_counter()
    with transaction.atomic():
        summary = contact_import(
            table=table, mapping=detect_mapping(table.headers), dry_run=dry_run
        )
        _commit_checks()
        elapsed = time.perf_counter() - start
        transaction.set_rollback(True)  # every contender starts from the same database
    return elapsed, summary.counts


def _commit_checks() -> None:
    """What a commit would do before it could return: check the deferred foreign keys of every
    row written. Each contender is rolled back so that the next starts from the same database,
    and a rollback skips these checks, which a real import pays for."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _stock(path: Path, rows: int, *, dry_run: bool) -> float:
    """django-import-export as its documentation shows it: a ModelResource with the email as
    import id and the union through a ForeignKeyWidget, row by row."""
    import tablib
    from django.db import connection, transaction
    from import_export import fields, resources, widgets

    from crm.models import Contact, Union

    class StockContactResource(resources.ModelResource):
        union = fields.Field(
            attribute="stock_union",
            column_name="union",
            widget=widgets.ForeignKeyWidget(Union, field="name"),
        )

        class Meta:
            model = Contact
            import_id_fields = ("email",)
            fields = ("first_name", "last_name", "email", "phone", "country", "trade", "union")
            skip_unchanged = True

    with path.open(encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        data = [row for _n, row in zip(range(rows), reader, strict=False)]
    dataset = tablib.Dataset(*data, headers=header)
    with transaction.atomic():
        # Its import id looks contacts up by exact email, which our schema indexes only as
        # lower(email): without an index of its own every row would scan the table, and the
        # baseline would measure that rather than django-import-export.
        with connection.cursor() as cursor:
            cursor.execute("CREATE INDEX bench_stock_email ON crm_contact (email)")
        start = time.perf_counter()
        result = StockContactResource().import_data(dataset, dry_run=dry_run)
        _commit_checks()
        elapsed = time.perf_counter() - start
        transaction.set_rollback(True)
    assert not result.has_errors(), result.base_errors
    return elapsed


def _copy(path: Path) -> float:
    """The floor: COPY into a staging table, then one INSERT ... ON CONFLICT on the email."""
    from django.db import connection, transaction

    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE staging (first_name text, last_name text, email text, "
            "phone text, union_name text, country text, trade text) ON COMMIT DROP"
        )
        with (
            path.open("rb") as handle,
            cursor.cursor.copy("COPY staging FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while data := handle.read(1 << 20):
                copy.write(data)
        cursor.execute(
            "INSERT INTO crm_contact (first_name, last_name, email, phone, country, trade, "
            "timezone, notes, email_consent, email_consent_source, do_not_contact, search_text, "
            "created_at, updated_at) "
            # The file names some people twice; the last row wins, as in the importer.
            "SELECT DISTINCT ON (lower(email)) first_name, last_name, email, phone, country, "
            "trade, 'Europe/Berlin', '', 'unknown', '', false, "
            "lower(first_name || ' ' || last_name || ' ' || email), now(), now() "
            "FROM (SELECT *, row_number() OVER () AS line FROM staging) AS rows "
            "ORDER BY lower(email), line DESC "
            "ON CONFLICT (lower(email)) WHERE email <> '' DO UPDATE SET trade = EXCLUDED.trade, "
            "updated_at = EXCLUDED.updated_at"
        )
        _commit_checks()
        elapsed = time.perf_counter() - start
        transaction.set_rollback(True)
    return elapsed


# The process's own peak (kB). Not getrusage(RUSAGE_SELF).ru_maxrss: Linux keeps that across
# exec, so a process started by this (large) one would report this one's size as its own.
_PEAK = "int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"


def _peak_memory(path: Path) -> float:
    """Peak resident memory (MB) of a separate process previewing the file, with the process
    that parses the file for it (both peaks added: an upper bound of what they held at once)."""
    code = (
        (
            "import sys; sys.path.insert(0, %r); import django, resource; django.setup(); "
            "from crm.importing.files import read_table; "
            "from crm.importing.headers import detect_mapping; "
            "from crm.importing.services import contact_import; "
            "t = read_table(__import__('pathlib').Path(%r)); "
            "s = contact_import(table=t, mapping=detect_mapping(t.headers), dry_run=True); "
            f"print(s.rows, {_PEAK} + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        .replace("%r", "{!r}")
        .format(str(ROOT), str(path))
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout.split()
    assert int(output[-2]) == MEMORY_ROWS, output  # every row was read and checked
    return int(output[-1]) / 1024


def run(folder: Path) -> list[Row]:
    from crm.demo import SeedReport, seed_unions
    from crm.models import Union

    seed_unions(SeedReport())
    unions = list(Union.objects.values_list("name", flat=True)[:30])
    _existing(EXISTING, unions, folder)
    rows: list[Row] = []
    for label, columns in (("basic", BASIC), ("all columns", FULL)):
        path = folder / f"contacts-{len(columns)}.csv"
        write_file(path, ROWS, existing=EXISTING, unions=unions, columns=columns)
        preview, counts = _ours(path, dry_run=True)
        real, _counts = _ours(path, dry_run=False)
        workload = (
            f"{ROWS:,} rows, {label} ({counts['created']:,} new, {counts['updated']:,} updates) "
            f"into {EXISTING:,} contacts"
        )
        if columns is BASIC:
            stock_preview = _stock(path, STOCK_ROWS, dry_run=True)
            stock_real = _stock(path, STOCK_ROWS, dry_run=False)
            copy = _copy(path)
            note = f"stock django-import-export on the file's first {STOCK_ROWS:,} rows"
        rows += [
            Row(f"import preview, {label}", workload, ROWS / preview, STOCK_ROWS / stock_preview,
                f"rows/s (baseline: {note}, dry run)"),
            Row(f"import, {label}", workload, ROWS / real, STOCK_ROWS / stock_real,
                f"rows/s (baseline: {note})"),
            Row(f"import vs COPY, {label}", workload, ROWS / real, ROWS / copy,
                "rows/s (baseline: COPY + INSERT ... ON CONFLICT of the basic file, no "
                "validation, no history)"),
        ]  # fmt: skip
    if MEMORY_ROWS:
        big = folder / "million.csv"
        write_file(big, MEMORY_ROWS, existing=0, unions=unions, columns=FULL)
        baseline = _baseline_memory()
        rows.append(
            Row("import memory", f"preview of {MEMORY_ROWS:,} rows (CSV)", _peak_memory(big),
                baseline,
                "MB peak RSS (baseline: the same process after django.setup(); limit 400 MB)")
        )  # fmt: skip
    return rows


def _baseline_memory() -> float:
    code = (
        (
            "import sys; sys.path.insert(0, %r); import django, resource; django.setup(); "
            "import crm.importing.services; "
            f"print({_PEAK})"
        )
        .replace("%r", "{!r}")
        .format(str(ROOT))
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout.split()
    return int(output[-1]) / 1024
