"""Backups: the documented scripts dump the database, and the dump restores into a fresh
database holding every record of every table, as the drill in README "Backups" does by hand."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from outreach.models import Attendance
from tests.factories import (
    ConsultationFactory,
    FollowUpFactory,
    MembershipFactory,
    PublicCommentFactory,
)

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _url(database: str) -> str:
    settings = connection.settings_dict
    user, host, port = settings["USER"] or "postgres", settings["HOST"], settings["PORT"] or 5432
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    return f"postgres://{user}{password}@{host}:{port}/{database}"


def _fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Every table of the database: its row count and a digest of all its rows."""
    with psycopg.connect(url) as database:
        tables = [
            row[0]
            for row in database.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        prints = {}
        for table in tables:
            row = database.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text),"
                    " '')) FROM {} AS t"
                ).format(sql.Identifier(table))
            ).fetchone()
            assert row is not None
            prints[table] = (row[0], row[1])
        return prints


@pytest.fixture
def fresh_database(postgres):
    name = f"crm_restore_{uuid.uuid4().hex[:10]}"
    admin = _url("postgres")
    with psycopg.connect(admin, autocommit=True) as database:
        database.execute(f"CREATE DATABASE {name}")
    yield _url(name)
    with psycopg.connect(admin, autocommit=True) as database:
        database.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_it_restores_a_backup_into_a_fresh_database_with_every_record(tmp_path, fresh_database):
    membership = MembershipFactory.create(contact__first_name="Ελένη", contact__last_name="Παππά")
    consultation = ConsultationFactory.create(title="Site visit: welding, cross-training")
    Attendance.objects.create(consultation=consultation, contact=membership.contact)
    FollowUpFactory.create(contact=membership.contact)
    PublicCommentFactory.create()
    source = _url(connection.settings_dict["NAME"])
    dump = tmp_path / "crm.dump"

    backup = subprocess.run(
        [SCRIPTS / "backup_database.sh", dump],
        env={**os.environ, "DATABASE_URL": source},
        capture_output=True,
        text=True,
        check=False,
    )
    assert backup.returncode == 0, backup.stderr
    assert dump.stat().st_size > 0
    assert not dump.with_name("crm.dump.partial").exists()

    restore = subprocess.run(
        [SCRIPTS / "restore_database.sh", dump, fresh_database],
        capture_output=True,
        text=True,
        check=False,
    )
    assert restore.returncode == 0, restore.stderr

    original, restored = _fingerprints(source), _fingerprints(fresh_database)
    assert restored == original
    for table in ("crm_contact", "crm_membership", "outreach_consultation", "outreach_followup"):
        assert original[table][0] >= 1, table


def test_it_refuses_to_restore_over_a_database_that_has_tables(tmp_path, fresh_database):
    dump = tmp_path / "crm.dump"
    subprocess.run(
        [SCRIPTS / "backup_database.sh", dump],
        env={**os.environ, "DATABASE_URL": _url(connection.settings_dict["NAME"])},
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [SCRIPTS / "restore_database.sh", dump, fresh_database], check=True, capture_output=True
    )
    again = subprocess.run(
        [SCRIPTS / "restore_database.sh", dump, fresh_database],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 2
    assert "restore into an empty database" in again.stderr


def test_it_refuses_a_database_that_is_not_postgresql(tmp_path):
    result = subprocess.run(
        [SCRIPTS / "backup_database.sh", tmp_path / "x.dump"],
        env={**os.environ, "DATABASE_URL": "sqlite:///var/db.sqlite3"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "must point at PostgreSQL" in result.stderr
