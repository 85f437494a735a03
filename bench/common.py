"""What every benchmark needs: a fresh PostgreSQL database, Django, and a result row."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH_DATABASE = "crm_bench"


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
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("make bench needs PostgreSQL: set DATABASE_URL or start it on 127.0.0.1:5432")
    parts = urlsplit(url)
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
