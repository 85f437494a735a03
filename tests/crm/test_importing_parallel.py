"""Large files are parsed in a forked second process: the outcome is the same as parsing in the
importer's own process, and a parsing process that fails fails the import, leaving nothing."""

from __future__ import annotations

import csv
import io
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from crm.importing import contacts as contacts_module
from crm.importing import parallel
from crm.importing.contacts import ContactImporter
from crm.importing.files import read_table
from crm.importing.headers import detect_mapping
from crm.importing.parallel import ParseProcessError, parsed_in_child
from crm.importing.services import contact_import
from crm.models import Contact, Membership, Union
from tests.factories import ContactFactory, UnionFactory

pytestmark = pytest.mark.django_db

HEADER = ["first_name", "last_name", "email", "phone", "country", "union", "union_role", "tags"]


def _rows() -> list[list[str]]:
    """Every way a row can go, spread over many chunks of 5, later rows meeting earlier ones."""
    rows = []
    for number in range(40):
        rows.append(
            [f"Anna{number}", "Nowak", f"anna{number}@example.org", "", "PL", "", "", "new"]
        )
    rows += [
        # Matches across chunks: by email, by phone, by name and union.
        ["Anna3", "Nowak-Kowalska", "ANNA3@example.org", "", "", "", "", "renamed"],
        ["Jan", "Kowalski", "", "+48 22 123 45 67", "PL", "", "", ""],
        ["Sam", "Smith", "", "", "GB", "Unite", "", ""],
        # Unions to create (asked for): named in one chunk, again in later ones.
        ["Eve", "Adams", "", "", "GB", "Brand New Union", "shop steward", ""],
        ["", "Lee", "", "", "GB", "brand new union", "", ""],
        ["Ola", "Berg", "ola@example.no", "", "NO", "Brand New Union", "", ""],
        # Rejected in the parsing process, with their row, column and value.
        ["Bad", "Email", "not-an-email", "", "", "", "", ""],
        ["Bad", "Phone", "", "12", "DE", "", "", ""],
        ["", "", "nobody@example.org", "", "", "", "", ""],
        ["Bad", "Role", "role@example.org", "", "", "", "captain", ""],
        # Later rows meeting the ones above.
        ["Jan", "Kowalski", "", "+48221234567", "PL", "", "", "phone-again"],
        ["SAM", "Smith", "", "", "GB", "UNITE", "", "name-again"],
        ["Eve", "Adams", "", "", "GB", "Brand New Union", "", "again"],
    ]
    return rows


def _write(path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *_rows()])
    return path


def _import(path: Path) -> tuple[dict[str, Any], list[dict[str, str]], list[tuple[Any, ...]]]:
    table = read_table(path)
    errors = io.StringIO()
    summary = contact_import(
        table=table,
        mapping=detect_mapping(table.headers),
        dry_run=False,
        create_unions=True,
        errors_to=errors,
    )
    stored = sorted(
        Contact.objects.values_list("first_name", "last_name", "email", "phone", "country")
    )
    memberships = sorted(
        Membership.objects.values_list("contact__last_name", "union__name", "role")
    )
    tags = sorted(Contact.tags.through.objects.values_list("contact__first_name", "tag__name"))
    return (
        {
            "counts": summary.counts,
            "samples": {k: [vars(s) for s in v] for k, v in summary.samples.items()},
            "unions": sorted(Union.objects.values_list("name", "country")),
            "created_unions": summary.created_unions,
        },
        list(csv.DictReader(io.StringIO(errors.getvalue()))),
        [*stored, *memberships, *tags],
    )


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(contacts_module, "CHUNK_ROWS", 5)
    # The test process may run threads of other tests' servers; the children here only parse.
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)


@pytest.fixture
def forks(monkeypatch) -> list[int]:
    """How many parsing processes the importer started."""
    started: list[int] = []

    def counted(chunks, parse):
        started.append(1)
        return parsed_in_child(chunks, parse)

    monkeypatch.setattr(contacts_module, "parsed_in_child", counted)
    return started


def test_it_imports_the_same_with_and_without_a_parsing_process(
    tmp_path, settings, small_chunks, forks
):
    UnionFactory.create(name="Unite", country="GB")
    ContactFactory.create(first_name="Jan", last_name="Kowalski", email="", phone="")
    path = _write(tmp_path / "people.csv")

    settings.IMPORT_PARSE_PROCESS = False
    with transaction.atomic():
        alone = _import(path)
        transaction.set_rollback(True)
    assert forks == []

    settings.IMPORT_PARSE_PROCESS = True
    together = _import(path)
    assert forks == [1]

    assert together == alone
    summary, errors, _stored = together
    assert summary["counts"] == {"created": 45, "updated": 4, "unchanged": 0, "rejected": 4}
    assert summary["created_unions"] == ["Brand New Union"]
    assert [row["error"][:7] for row in errors] == ["Row 48,", "Row 49,", "Row 50:", "Row 51,"]
    assert "not-an-email" in errors[0]["error"]


def test_it_fails_the_import_and_writes_nothing_when_the_parsing_process_dies(
    tmp_path, small_chunks, forks
):
    parent = os.getpid()
    original = ContactImporter._parse_chunk

    def dying(self, lines):
        if os.getpid() != parent and lines[0].number > 20:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, lines)

    path = _write(tmp_path / "people.csv")
    before = Contact.objects.count()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ContactImporter, "_parse_chunk", dying)
        with pytest.raises(ParseProcessError, match="stopped before the end"):
            _import(path)
    assert forks == [1]
    assert Contact.objects.count() == before
    assert not Union.objects.filter(name="Brand New Union").exists()


def test_it_reports_an_error_raised_in_the_parsing_process():
    def failing(chunk: int) -> int:
        if chunk == 2:
            raise ValueError("cell 2 is broken")
        return chunk

    results = parsed_in_child(iter(range(5)), failing)
    assert [next(results), next(results)] == [0, 1]
    with pytest.raises(ParseProcessError, match="ValueError: cell 2 is broken"):
        next(results)


def test_it_returns_results_in_order():
    assert list(parsed_in_child(iter(range(300)), lambda n: [n] * n)) == [
        [n] * n for n in range(300)
    ]


def test_it_stops_the_parsing_process_when_the_import_stops_early():
    results = parsed_in_child(iter(range(10_000)), lambda _n: os.getpid())
    child = next(results)
    assert child != os.getpid()
    results.close()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)  # killed and reaped: not even a zombie is left


def test_it_forks_only_when_no_other_thread_runs(settings, monkeypatch):
    settings.IMPORT_PARSE_PROCESS = True
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    assert parallel.can_fork()
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 2)
    assert not parallel.can_fork()
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    settings.IMPORT_PARSE_PROCESS = False
    assert not parallel.can_fork()
