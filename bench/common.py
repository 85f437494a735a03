"""What every benchmark needs: a fresh PostgreSQL database, Django, and a result row."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
# Dropped and recreated by every run: another name lets two runs share one server.
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "crm_bench")


@dataclass
class Row:
    name: str
    workload: str
    figure: float
    baseline: float
    unit: str

    @property
    def ratio(self) -> float:
        return self.figure / self.baseline if self.baseline else float("nan")


def bench_database_url() -> str:
    """DATABASE_URL with the database renamed: benchmarks never touch the real or test data."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", BENCH_DATABASE):
        # It is written into DROP DATABASE as it is.
        sys.exit(f"BENCH_DATABASE must be a plain lower-case name, not {BENCH_DATABASE!r}")
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("make bench needs PostgreSQL: set DATABASE_URL or start it on 127.0.0.1:5432")
    parts = urlsplit(url)
    if BENCH_DATABASE in {parts.path.lstrip("/"), "postgres", "template0", "template1"}:
        sys.exit(f"BENCH_DATABASE={BENCH_DATABASE} would drop a database that is not the bench's")
    return urlunsplit(parts._replace(path=f"/{BENCH_DATABASE}"))


def _recreate(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")


def setup_django() -> None:
    """A fresh bench database, migrated, and Django set up against it."""
    url = bench_database_url()
    _recreate(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


@contextmanager
def own_database(suffix: str) -> Iterator[str]:
    """A second fresh, migrated database (the bench's name + suffix) that Django uses meanwhile,
    for a benchmark whose workload must not see what the others left; dropped afterwards."""
    from django.core.management import call_command
    from django.db import connection

    # setup_django() has pointed DATABASE_URL at the bench's database already.
    url = os.environ["DATABASE_URL"]
    parts = urlsplit(url)
    if parts.path != f"/{BENCH_DATABASE}" or not re.fullmatch(r"[a-z0-9_]+", suffix):
        sys.exit(f"own_database({suffix!r}) needs setup_django() and a plain suffix")
    own = urlunsplit(parts._replace(path=f"{parts.path}_{suffix}"))
    _recreate(own)
    original = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = urlsplit(own).path.lstrip("/")
    try:
        call_command("migrate", verbosity=0)
        yield own
    finally:
        connection.close()
        connection.settings_dict["NAME"] = original
        import psycopg

        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as admin_connection:
            admin_connection.execute(
                f"DROP DATABASE IF EXISTS {urlsplit(own).path.lstrip('/')} WITH (FORCE)"
            )
