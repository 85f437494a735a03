"""What every benchmark needs: a fresh PostgreSQL database, Django, and a result row."""

from __future__ import annotations

import os
import re
import sys
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


def setup_django() -> None:
    """A fresh bench database, migrated, and Django set up against it."""
    import psycopg

    url = bench_database_url()
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
