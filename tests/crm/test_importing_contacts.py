"""The contact importer: every row created, updated, unchanged or rejected, and nothing else."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from crm.exports import safe_cell
from crm.history import history_entries
from crm.importing import bulk
from crm.importing import contacts as contacts_module
from crm.importing.cells import unescape
from crm.importing.contacts import Summary
from crm.importing.files import read_table
from crm.importing.headers import CONTACT_COLUMNS, FULL_NAME, detect_mapping
from crm.importing.services import contact_import
from crm.models import (
    Consent,
    ConsentRecord,
    ConsentSource,
    Contact,
    Employer,
    Language,
    Membership,
    Site,
    Tag,
    Union,
)
from tests.factories import (
    ContactFactory,
    EmployerFactory,
    MembershipFactory,
    SiteFactory,
    UnionFactory,
)

pytestmark = pytest.mark.django_db

_files = itertools.count(1)


# Helpers ------------------------------------------------------------------------------------


@dataclass
class Result:
    summary: Summary
    errors: list[dict[str, str]]  # the error CSV, read back

    @property
    def counts(self) -> dict[str, int]:
        return self.summary.counts

    @property
    def messages(self) -> list[str]:
        return [row["error"] for row in self.errors]


def counts(created: int = 0, updated: int = 0, unchanged: int = 0, rejected: int = 0) -> dict:
    return {"created": created, "updated": updated, "unchanged": unchanged, "rejected": rejected}


def table_rows(records: list[dict[str, Any]]) -> list[list[Any]]:
    """Dicts as a header and rows: the header is every key, in the order first seen."""
    header = list(dict.fromkeys(key for record in records for key in record))
    return [header, *[[record.get(key, "") for key in header] for record in records]]


def write_csv(
    path: Path, rows: list[list[Any]], *, delimiter: str = ",", encoding: str = "utf-8"
) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def run(
    path: Path,
    *,
    dry_run: bool = False,
    create_unions: bool = False,
    user: Any = None,
    reason: str = "",
) -> Result:
    table = read_table(path)
    errors = io.StringIO()
    summary = contact_import(
        table=table,
        mapping=detect_mapping(table.headers),
        dry_run=dry_run,
        create_unions=create_unions,
        user_id=user.pk if user else None,
        reason=reason,
        errors_to=errors,
    )
    return Result(summary=summary, errors=list(csv.DictReader(io.StringIO(errors.getvalue()))))


def import_rows(tmp_path: Path, records: list[dict[str, Any]], **options: Any) -> Result:
    path = write_csv(tmp_path / f"people-{next(_files)}.csv", table_rows(records))
    return run(path, **options)


def import_lists(tmp_path: Path, rows: list[list[Any]], **options: Any) -> Result:
    path = write_csv(tmp_path / f"people-{next(_files)}.csv", rows)
    return run(path, **options)


def only_error(result: Result) -> str:
    assert result.counts["rejected"] == 1
    assert len(result.errors) == 1
    return result.errors[0]["error"]


def stored_rows() -> dict[str, int]:
    """How many rows every table an import writes to holds."""
    return {
        "contacts": Contact.objects.count(),
        "contact history": Contact.history.count(),
        "tag links": Contact.tags.through.objects.count(),
        "language links": Contact.languages.through.objects.count(),
        "memberships": Membership.objects.count(),
        "membership history": Membership.history.count(),
        "tags": Tag.objects.count(),
        "employers": Employer.objects.count(),
        "sites": Site.objects.count(),
        "unions": Union.objects.count(),
    }


# Headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("first_name", "first_name"),
        ("First Name", "first_name"),
        ("FIRST-NAME", "first_name"),
        (" first_name ", "first_name"),
        ("Given name", "first_name"),
        ("last name", "last_name"),
        ("Surname", "last_name"),
        ("Family name", "last_name"),
        ("family_name", "last_name"),
        ("Name", FULL_NAME),
        ("Full name", FULL_NAME),
        ("E-mail", "email"),
        ("Email address", "email"),
        ("EMAIL_ADDRESS", "email"),
        ("Phone", "phone"),
        ("Mobile", "phone"),
        ("Phone number", "phone"),
        ("Telephone", "phone"),
        ("Occupation", "trade"),
        ("Job title", "trade"),
        ("Union role", "union_role"),
        ("Preferred-Language", "preferred_language"),
        ("Time zone", "timezone"),
        ("Email consent", "email_consent"),
        ("NOTES", "notes"),
    ],
)
def test_it_maps_headers_ignoring_case_spaces_underscores_and_dashes(header, field):
    mapping = detect_mapping(["something else", header])
    assert mapping.fields == {1: field}
    assert mapping.unmatched == ["something else"]


def test_it_maps_every_column_of_its_own_export():
    assert detect_mapping(list(CONTACT_COLUMNS)).fields == dict(enumerate(CONTACT_COLUMNS))


def test_it_keeps_the_first_column_of_a_field_named_twice():
    mapping = detect_mapping(["E-mail", "Email address", "Surname"])
    assert mapping.fields == {0: "email", 2: "last_name"}
    assert mapping.unmatched == ["Email address"]


def test_it_imports_through_aliased_headers(tmp_path):
    result = import_lists(
        tmp_path,
        [
            ["Given name", "Family name", "E-mail", "Mobile", "Country", "Job title"],
            ["Anna", "Nowak", "anna@example.pl", "601 234 567", "Poland", "Welder"],
        ],
    )
    assert result.counts == counts(created=1)
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Anna",
        "Nowak",
        "anna@example.pl",
    )
    assert (contact.phone, str(contact.country), contact.trade) == ("+48601234567", "PL", "welder")


def test_it_splits_a_full_name_column(tmp_path):
    result = import_lists(
        tmp_path,
        [
            ["Full name", "E-mail"],
            ["Anna Maria Kowalska", "anna@example.pl"],
            ["Nowak, Jan", "jan@example.pl"],
            ["Cher", "cher@example.org"],
        ],
    )
    assert result.counts == counts(created=3)
    assert set(Contact.objects.values_list("first_name", "last_name")) == {
        ("Anna Maria", "Kowalska"),
        ("Jan", "Nowak"),
        ("", "Cher"),
    }


# Every column --------------------------------------------------------------------------------


def test_it_imports_every_column(tmp_path, organizer):
    union = UnionFactory.create(name="IG Metall", acronym="IGM", country="DE")
    result = import_rows(
        tmp_path,
        [
            {
                "first_name": "Jürgen",
                "last_name": "Müller",
                "email": "Juergen.Mueller@Example.DE",
                "phone": "030 1234567",
                "union": "IG Metall",
                "union_role": "Shop steward",
                "employer": "Rheinmetall",
                "site": "Unterlüß",
                "country": "DE",
                "trade": "CNC operator",
                "languages": "de; English",
                "preferred_language": "German",
                "timezone": "Europe/Busingen",
                "tags": "site visit; leaflet, site visit",
                "email_consent": "yes",
                "notes": "Met at the gate.\nCall back in May.",
            }
        ],
        user=organizer,
        reason="Spring list",
    )
    assert result.counts == counts(created=1)
    assert result.errors == []
    contact = Contact.objects.get()
    assert contact.first_name == "Jürgen"
    assert contact.last_name == "Müller"
    assert contact.email == "Juergen.Mueller@example.de"  # the domain is case-insensitive
    assert contact.phone == "+49301234567"
    assert str(contact.country) == "DE"
    assert contact.trade == "cnc_operator"
    assert contact.timezone == "Europe/Busingen"
    assert contact.notes == "Met at the gate.\nCall back in May."
    assert contact.employer.name == "Rheinmetall"  # type: ignore[union-attr]
    assert (contact.site.name, contact.site.city, contact.site.country.code) == (  # type: ignore[union-attr]
        "Unterlüß",
        "Unterlüß",
        "DE",
    )
    assert contact.site.employer == contact.employer  # type: ignore[union-attr]
    assert sorted(contact.languages.values_list("code", flat=True)) == ["de", "en"]
    assert contact.preferred_language_id == "de"
    assert sorted(contact.tags.values_list("name", flat=True)) == ["leaflet", "site visit"]
    assert contact.email_consent == Consent.GRANTED
    assert contact.email_consent_source == ConsentSource.IMPORT
    assert contact.email_consent_at is not None
    assert contact.created_by == organizer
    assert contact.updated_by == organizer
    assert contact.search_text == "jurgen muller juergen.mueller@example.de"
    assert not contact.do_not_contact
    membership = Membership.objects.get()
    assert (membership.contact, membership.union, membership.role) == (
        contact,
        union,
        Membership.Role.SHOP_STEWARD,
    )
    assert membership.end_date is None
    assert result.summary.created_employers == ["Rheinmetall"]
    assert result.summary.created_sites == ["Unterlüß"]


def test_it_ignores_empty_rows_and_does_not_count_them(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text(
        "first_name,last_name,email\n\n,,\n  ,  ,  \nAnna,Nowak,\n\n\nJan,Kowalski,\n,,\n",
        encoding="utf-8",
    )
    result = run(path)
    assert result.counts == counts(created=2)
    assert result.summary.rows == 2
    assert Contact.objects.count() == 2


def test_it_puts_every_row_in_exactly_one_outcome(tmp_path):
    ContactFactory.create(first_name="Old", last_name="Friend", email="old@example.org")
    ContactFactory.create(first_name="Same", last_name="As Ever", email="same@example.org")
    result = import_rows(
        tmp_path,
        [
            {"first_name": "New", "last_name": "Person", "email": "new@example.org"},
            {"first_name": "Old", "last_name": "Friend", "email": "old@example.org", "tags": "x"},
            {"first_name": "Same", "last_name": "As Ever", "email": "same@example.org"},
            {"first_name": "Broken", "last_name": "Row", "email": "not an address"},
            {"first_name": "", "last_name": "", "email": "nameless@example.org"},
        ],
    )
    assert result.counts == counts(created=1, updated=1, unchanged=1, rejected=2)
    assert result.summary.rows == 5
    assert result.summary.line() == "created=1 updated=1 unchanged=1 rejected=2"
    assert [sample.number for sample in result.summary.samples["rejected"]] == [5, 6]
    assert Contact.objects.count() == 3
    assert not Contact.objects.filter(email="nameless@example.org").exists()


# Validation ------------------------------------------------------------------------------------


def _valid_row(**changes: str) -> dict[str, str]:
    row = {
        "First name": "Anna",
        "Last name": "Nowak",
        "E-mail": "anna@example.pl",
        "Phone": "",
        "Union": "",
        "Union role": "",
        "Employer": "",
        "Site": "",
        "Country": "PL",
        "Trade": "",
        "Languages": "",
        "Preferred language": "",
        "Time zone": "",
        "Tags": "",
        "Email consent": "",
        "Notes": "",
    }
    row.update(changes)
    return row


LONG_EMAIL = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".pl"


@pytest.mark.parametrize(
    ("column", "value", "shown", "explains"),
    [
        ("E-mail", "anna.example.pl", "anna.example.pl", "is not a valid email address"),
        ("E-mail", "anna@", "anna@", "is not a valid email address"),
        ("E-mail", "anna@EXAMPLE", "anna@example", "is not a valid email address"),
        ("E-mail", LONG_EMAIL, LONG_EMAIL[:79] + "…", "is 311 characters long; at most 254 fit"),
        ("Phone", "123", "123", "is not a valid phone number for Poland"),
        ("Phone", "+49 30 12", "+49 30 12", "is not a valid phone number for Poland"),
        ("Phone", "call me", "call me", "is not a valid phone number for Poland"),
        ("Country", "Atlantis", "Atlantis", "is not a country"),
        ("Country", "XX", "XX", "is not a country"),
        ("Time zone", "Europe/Atlantis", "Europe/Atlantis", "is not a known time zone"),
        ("Time zone", "CET+1", "CET+1", "is not a known time zone"),
        ("Languages", "de; Klingon", "Klingon", "is not a known language"),
        ("Preferred language", "xx", "xx", "is not a known language"),
        ("Trade", "astronaut", "astronaut", "is not a trade this CRM knows"),
        ("Email consent", "maybe", "maybe", "is not a consent answer"),
        ("First name", "A" * 101, "A" * 79 + "…", "is 101 characters long; at most 100 fit"),
        ("Last name", "N" * 101, "N" * 79 + "…", "is 101 characters long; at most 100 fit"),
        ("Notes", "n" * 10_001, "n" * 79 + "…", "is 10001 characters long; at most 10000 fit"),
        ("Tags", "ok; " + "t" * 61, "t" * 61, "is 61 characters long; at most 60 fit"),
        ("Employer", "E" * 201, "E" * 79 + "…", "is 201 characters long; at most 200 fit"),
        ("Site", "S" * 101, "S" * 79 + "…", "is 101 characters long; at most 100 fit"),
        # NUL cannot be stored, nor sent back inside a message (JSON in PostgreSQL): shown as ␀.
        ("First name", "An\x00na", "An␀na", "contains a NUL character"),
        ("Notes", "before\x00after", "before␀after", "contains a NUL character"),
        ("Union", "IG\x00Metall", "IG␀Metall", "is not a known union"),
    ],
)
def test_it_rejects_an_invalid_value_naming_row_column_and_value(
    tmp_path, column, value, shown, explains
):
    result = import_rows(tmp_path, [_valid_row(), _valid_row(**{column: value})])
    # The second row matches the first by email, so a valid one would be unchanged.
    assert result.counts == counts(created=1, rejected=1)
    message = only_error(result)
    assert message.startswith(f"Row 3, column “{column}”: ")
    assert f"“{shown}” " in message
    assert explains in message
    assert "\x00" not in message
    # The error file repeats the row as it was, with the error beside it.
    assert list(result.errors[0]) == [*_valid_row(), "error"]
    # (defused as exports are: a cell starting with "+" would be a formula)
    assert result.errors[0] == {
        **{k: safe_cell(v) for k, v in _valid_row(**{column: value}).items()},
        "error": message,
    }
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.notes) == ("Anna", "Nowak", "")
    assert Tag.objects.count() == Employer.objects.count() == Site.objects.count() == 0


def test_it_rejects_a_row_without_any_name(tmp_path):
    result = import_rows(tmp_path, [_valid_row(**{"First name": "", "Last name": ""})])
    assert only_error(result) == "Row 2: a first or a last name is needed."
    assert Contact.objects.count() == 0


def test_it_rejects_a_role_without_a_union(tmp_path):
    message = only_error(import_rows(tmp_path, [_valid_row(**{"Union role": "shop steward"})]))
    assert message == (
        "Row 2, column “Union role”: “shop steward” is a role, but the row has no union."
    )


def test_it_rejects_an_unknown_role(tmp_path):
    UnionFactory.create(name="NSZZ Solidarność", country="PL")
    message = only_error(
        import_rows(tmp_path, [_valid_row(**{"Union": "NSZZ Solidarność", "Union role": "boss"})])
    )
    assert message.startswith("Row 2, column “Union role”: “boss” is not a union role")


def test_it_names_every_problem_of_a_row_at_once(tmp_path):
    result = import_rows(
        tmp_path,
        [_valid_row(**{"E-mail": "nope", "Country": "Narnia", "Time zone": "Mars/Olympus"})],
    )
    message = only_error(result)
    assert "column “E-mail”: “nope”" in message
    assert "column “Country”: “Narnia”" in message
    assert "column “Time zone”: “Mars/Olympus”" in message
    assert message.count("Row 2") == 3


@pytest.mark.parametrize("length", [1, 99, 100])
def test_it_keeps_names_of_up_to_100_characters_whole(tmp_path, length):
    first, last = "Ж" * length, "ü" * length
    result = import_rows(tmp_path, [{"first_name": first, "last_name": last}])
    assert result.counts == counts(created=1)
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name) == (first, last)


@pytest.mark.parametrize("column", ["first_name", "last_name"])
def test_it_rejects_a_name_of_101_characters_rather_than_truncating_it(tmp_path, column):
    row = {"first_name": "Anna", "last_name": "Nowak", column: "x" * 101}
    result = import_rows(tmp_path, [row])
    assert f"column “{column}”: “{'x' * 79}…” is 101 characters long" in only_error(result)
    assert Contact.objects.count() == 0


@pytest.mark.parametrize(
    ("country", "written", "stored"),
    [
        ("DE", "030 1234567", "+49301234567"),
        ("DE", "+49 (30) 123-4567", "+49301234567"),
        ("PL", "601 234 567", "+48601234567"),
        ("PL", "+44 20 7946 0958", "+442079460958"),  # international numbers need no country
        ("", "+33 1 23 45 67 89", "+33123456789"),
    ],
)
def test_it_stores_phone_numbers_in_e164(tmp_path, country, written, stored):
    result = import_rows(tmp_path, [{"last_name": "Nowak", "phone": written, "country": country}])
    assert result.counts == counts(created=1)
    assert Contact.objects.get().phone == stored


def test_it_asks_for_an_international_number_when_the_row_has_no_country(tmp_path):
    message = only_error(import_rows(tmp_path, [{"last_name": "Nowak", "phone": "030 1234567"}]))
    assert message == (
        "Row 2, column “phone”: “030 1234567” is not a valid phone number; "
        "write it as +<country code> <number>."
    )


@pytest.mark.parametrize(
    ("written", "code"),
    [("pl", "PL"), ("POL", "PL"), ("Poland", "PL"), ("poland", "PL"), ("Germany", "DE")],
)
def test_it_reads_countries_by_code_or_english_name(tmp_path, written, code):
    import_rows(tmp_path, [{"last_name": "Nowak", "country": written}])
    assert str(Contact.objects.get().country) == code


# Unions ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["IG Metall", "ig metall", "IGM", "igm", "IG Métall"])
def test_it_finds_the_union_by_name_or_acronym(tmp_path, written):
    union = UnionFactory.create(name="IG Metall", acronym="IGM", country="DE")
    result = import_rows(tmp_path, [{"last_name": "Müller", "union": written}])
    assert result.counts == counts(created=1)
    assert Membership.objects.get().union == union
    assert Membership.objects.get().role == Membership.Role.MEMBER


def test_it_uses_the_rows_country_to_tell_unions_of_the_same_name_apart(tmp_path):
    UnionFactory.create(name="GMB", acronym="", country="GB")
    austrian = UnionFactory.create(name="GMB", acronym="", country="AT")
    result = import_rows(
        tmp_path,
        [
            {"last_name": "Gruber", "union": "GMB", "country": "AT"},
            {"last_name": "Smith", "union": "GMB", "country": ""},
            {"last_name": "Dupont", "union": "GMB", "country": "FR"},
        ],
    )
    assert result.counts == counts(created=1, rejected=2)
    assert Membership.objects.get().union == austrian
    assert result.messages == [
        "Row 3, column “union”: Several unions are called “GMB”: add the country to the row.",
        "Row 4, column “union”: Several unions are called “GMB”: add the country to the row.",
    ]


def test_it_rejects_an_unknown_union_suggesting_the_closest_names(tmp_path):
    UnionFactory.create(name="IG Metall", country="DE")
    UnionFactory.create(name="IG Metal Nord", country="DE")
    UnionFactory.create(name="Unite", country="GB")
    result = import_rows(tmp_path, [{"last_name": "Müller", "union": "IG Metal"}])
    message = only_error(result)
    assert message.startswith(
        "Row 2, column “union”: “IG Metal” is not a known union. Did you mean:"
    )
    assert "IG Metall" in message
    assert "IG Metal Nord" in message
    assert "Unite" not in message
    assert Contact.objects.count() == 0
    assert Union.objects.count() == 3


def test_it_rejects_an_unknown_union_with_nothing_close(tmp_path):
    UnionFactory.create(name="IG Metall", country="DE")
    message = only_error(import_rows(tmp_path, [{"last_name": "Smith", "union": "Teamsters"}]))
    assert message == (
        "Row 2, column “union”: “Teamsters” is not a known union; "
        "add it first or choose “create missing unions”."
    )


def test_it_creates_missing_unions_when_asked(tmp_path, organizer):
    result = import_rows(
        tmp_path,
        [
            {"last_name": "Gruber", "union": "PRO-GE", "country": "AT"},
            {"last_name": "Huber", "union": "pro-ge", "country": "AT", "union_role": "safety rep"},
            {"last_name": "Moser", "union": "Brand New", "country": ""},
        ],
        create_unions=True,
        user=organizer,
    )
    assert result.counts == counts(created=2, rejected=1)
    union = Union.objects.get()
    assert (union.name, str(union.country), union.kind) == ("PRO-GE", "AT", "national_union")
    assert union.created_by == organizer
    assert union.history.get().history_user == organizer
    assert result.summary.created_unions == ["PRO-GE"]
    assert set(Membership.objects.values_list("contact__last_name", "union", "role")) == {
        ("Gruber", union.pk, "member"),
        ("Huber", union.pk, "safety_rep"),
    }
    assert result.messages == [
        "Row 4, column “union”: “Brand New” is not a known union: give the row's country so it "
        "can be created."
    ]


def test_it_creates_no_union_in_a_dry_run(tmp_path):
    result = import_rows(
        tmp_path,
        [{"last_name": "Gruber", "union": "PRO-GE", "country": "AT"}],
        create_unions=True,
        dry_run=True,
    )
    assert result.counts == counts(created=1)
    assert result.summary.created_unions == ["PRO-GE"]
    assert Union.objects.count() == 0
    assert Contact.objects.count() == 0


def test_it_creates_no_union_for_a_row_rejected_for_another_reason(tmp_path):
    result = import_rows(
        tmp_path,
        [{"last_name": "Gruber", "union": "PRO-GE", "country": "AT", "email": "bad"}],
        create_unions=True,
    )
    assert result.counts == counts(rejected=1)
    assert Union.objects.count() == 0


def test_it_changes_the_role_in_a_union_and_adds_memberships(tmp_path):
    union = UnionFactory.create(name="Unite", country="GB")
    other = UnionFactory.create(name="GMB", country="GB")
    membership = MembershipFactory.create(
        contact__email="sam@example.org",
        contact__last_name="Tester",
        union=union,
        role=Membership.Role.MEMBER,
    )
    result = import_rows(
        tmp_path,
        [
            {"email": "sam@example.org", "last_name": "Tester", "union": "Unite"},
            {
                "email": "sam@example.org",
                "last_name": "Tester",
                "union": "Unite",
                "union_role": "shop_steward",
            },
            {"email": "sam@example.org", "last_name": "Tester", "union": "GMB"},
        ],
    )
    assert result.counts == counts(unchanged=1, updated=2)
    membership.refresh_from_db()
    assert membership.role == Membership.Role.SHOP_STEWARD
    assert set(Membership.objects.values_list("union", "role")) == {
        (union.pk, "shop_steward"),
        (other.pk, "member"),
    }


# Employers and sites ---------------------------------------------------------------------------


def test_it_creates_employers_and_sites_once_and_finds_existing_ones(tmp_path):
    existing = EmployerFactory.create(name="Naval Group")
    yard = SiteFactory.create(employer=existing, name="Chantier", city="Cherbourg", country="FR")
    result = import_rows(
        tmp_path,
        [
            {"last_name": "A", "employer": "NAVAL GROUP", "site": "cherbourg", "country": "FR"},
            {"last_name": "B", "employer": "Naval Group", "site": "Chantier", "country": "FR"},
            {"last_name": "C", "employer": "Naval Group", "site": "Lorient", "country": "FR"},
            {"last_name": "D", "employer": "naval group", "site": "LORIENT", "country": "FR"},
            {"last_name": "E", "employer": "Fincantieri", "site": "Monfalcone", "country": "IT"},
            {"last_name": "F", "employer": "Fincantieri", "country": "IT"},
        ],
    )
    assert result.counts == counts(created=6)
    assert Employer.objects.count() == 2
    assert Site.objects.count() == 3
    sites = dict(Contact.objects.values_list("last_name", "site"))
    assert sites["A"] == sites["B"] == yard.pk
    lorient = Site.objects.get(city="Lorient")
    assert (lorient.employer, str(lorient.country)) == (existing, "FR")
    assert sites["C"] == sites["D"] == lorient.pk
    assert sites["F"] is None
    assert result.summary.created_employers == ["Fincantieri"]
    assert result.summary.created_sites == ["Lorient", "Monfalcone"]


def test_it_rejects_a_new_site_without_a_country_or_an_employer(tmp_path):
    result = import_rows(
        tmp_path,
        [
            {"last_name": "A", "employer": "Naval Group", "site": "Lorient", "country": ""},
            {"last_name": "B", "employer": "", "site": "Lorient", "country": "FR"},
        ],
    )
    assert result.counts == counts(rejected=2)
    assert result.messages == [
        "Row 2, column “site”: The site “Lorient” is new: give the row's country so it can be "
        "created.",
        "Row 3, column “site”: The site “Lorient” needs an employer: fill in the employer column.",
    ]
    # The employer of the rejected row was not created either.
    assert Employer.objects.count() == 0


def test_it_uses_the_contacts_employer_for_a_site_given_alone(tmp_path):
    employer = EmployerFactory.create(name="Saab")
    contact = ContactFactory.create(email="ann@example.se", employer=employer, country="SE")
    result = import_rows(
        tmp_path, [{"email": "ann@example.se", "last_name": contact.last_name, "site": "Linköping"}]
    )
    assert result.counts == counts(updated=1)
    contact.refresh_from_db()
    assert (contact.site.employer, contact.site.city, contact.site.country.code) == (  # type: ignore[union-attr]
        employer,
        "Linköping",
        "SE",
    )


def test_it_drops_a_site_of_the_old_employer_when_the_employer_changes(tmp_path):
    site = SiteFactory.create(employer__name="Old Works", city="Kiel")
    contact = ContactFactory.create(email="k@example.de", employer=site.employer, site=site)
    result = import_rows(
        tmp_path,
        [{"email": "k@example.de", "last_name": contact.last_name, "employer": "New Works"}],
    )
    assert result.counts == counts(updated=1)
    contact.refresh_from_db()
    assert contact.employer.name == "New Works"  # type: ignore[union-attr]
    # A contact never works at a site of an employer they do not work for (Contact.clean).
    assert contact.site is None


@pytest.mark.parametrize("names", [("Müller GmbH", "Muller GmbH"), ("Muller GmbH", "Müller GmbH")])
def test_it_tells_apart_employers_and_sites_whose_names_differ_only_in_accents(tmp_path, names):
    # Names are matched ignoring accents only when no name matches as written.
    employers = [EmployerFactory.create(name=name) for name in names]
    sites = [
        SiteFactory.create(employer=employers[0], city=name) for name in ("Lüneburg", "Luneburg")
    ]
    for employer, site in itertools.product(employers[:1], sites):
        contact = ContactFactory.create(employer=employer, site=site)
        row = {"email": contact.email, "last_name": contact.last_name}
        result = import_rows(tmp_path, [{**row, "employer": employer.name, "site": site.city}])
        assert result.counts == counts(unchanged=1)
        contact.refresh_from_db()
        assert (contact.employer, contact.site) == (employer, site)
    other = ContactFactory.create()
    import_rows(
        tmp_path, [{"email": other.email, "last_name": other.last_name, "employer": names[1]}]
    )
    other.refresh_from_db()
    assert other.employer == employers[1]


# Matching --------------------------------------------------------------------------------------


def test_it_matches_by_email_ignoring_case_and_spaces(tmp_path):
    contact = ContactFactory.create(
        first_name="Anna", last_name="Nowak", email="Anna.Nowak@example.pl", phone=""
    )
    result = import_rows(
        tmp_path,
        [
            {
                "first_name": "Anna",
                "last_name": "Nowak",
                "email": "  ANNA.NOWAK@EXAMPLE.PL ",
                "phone": "+48 601 234 567",
            }
        ],
    )
    assert result.counts == counts(updated=1)
    contact.refresh_from_db()
    assert contact.email == "Anna.Nowak@example.pl"  # as it was stored
    assert contact.phone == "+48601234567"
    assert Contact.objects.count() == 1


def test_it_matches_by_email_first_even_when_the_name_or_phone_is_someone_elses(tmp_path):
    ContactFactory.create(first_name="Anna", last_name="Nowak", email="", phone="+48601234567")
    result = import_rows(
        tmp_path,
        [
            {
                "first_name": "Anna",
                "last_name": "Nowak",
                "email": "anna2@example.pl",
                "phone": "+48601234567",
            }
        ],
    )
    assert result.counts == counts(created=1)
    assert Contact.objects.count() == 2


def test_it_matches_by_phone_when_the_row_has_no_email(tmp_path):
    contact = ContactFactory.create(
        first_name="Jan", last_name="Nowak", email="", phone="+48601234567", country="PL"
    )
    result = import_rows(
        tmp_path,
        [{"first_name": "Janek", "last_name": "Nowak", "phone": "601-234-567", "country": "PL"}],
    )
    assert result.counts == counts(updated=1)
    contact.refresh_from_db()
    assert contact.first_name == "Janek"


def test_it_matches_by_name_and_union_ignoring_case_and_accents(tmp_path):
    union = UnionFactory.create(name="IG Metall", country="DE")
    other = UnionFactory.create(name="ver.di", country="DE")
    member = MembershipFactory.create(
        contact__first_name="Jürgen", contact__last_name="Müller", contact__email="", union=union
    ).contact
    unaffiliated = ContactFactory.create(first_name="Jürgen", last_name="Müller", email="")
    result = import_rows(
        tmp_path,
        [
            {
                "first_name": "JURGEN",
                "last_name": "muller",
                "union": "IG Metall",
                "trade": "welder",
            },
            {"first_name": "Jurgen", "last_name": "Müller", "trade": "engineer"},
            {"first_name": "Jürgen", "last_name": "Müller", "union": "ver.di"},
        ],
    )
    assert result.counts == counts(updated=2, created=1)
    member.refresh_from_db()
    unaffiliated.refresh_from_db()
    assert member.trade == "welder"
    assert (member.first_name, member.last_name) == ("JURGEN", "muller")
    assert unaffiliated.trade == "engineer"
    newcomer = Contact.objects.exclude(pk__in=[member.pk, unaffiliated.pk]).get()
    assert newcomer.memberships.get().union == other


def test_it_rejects_a_row_matching_several_contacts(tmp_path):
    ContactFactory.create(first_name="A", last_name="One", email="", phone="+48601234567")
    ContactFactory.create(first_name="B", last_name="Two", email="", phone="+48601234567")
    ContactFactory.create(first_name="Jan", last_name="Kowalski", email="", phone="")
    ContactFactory.create(first_name="JAN", last_name="Kowalski", email="", phone="")
    result = import_rows(
        tmp_path,
        [
            {"first_name": "C", "last_name": "Three", "phone": "+48 601 234 567"},
            {"first_name": "Jan", "last_name": "Kowalski", "phone": ""},
        ],
    )
    assert result.counts == counts(rejected=2)
    assert result.messages == [
        "Row 2: 2 contacts have the phone +48601234567; add an email to say which one.",
        "Row 3: 2 contacts have this name; add an email or a phone to say which one.",
    ]
    assert Contact.objects.count() == 4


def test_it_matches_later_rows_of_the_file_to_contacts_made_by_earlier_ones(tmp_path):
    UnionFactory.create(name="Unite", country="GB")
    result = import_rows(
        tmp_path,
        [
            {"first_name": "Anna", "last_name": "Nowak", "email": "Anna@Example.org"},
            {"first_name": "Anna", "last_name": "Nowak", "email": "anna@example.ORG"},
            {"first_name": "Anna", "last_name": "Nowak", "email": "ANNA@EXAMPLE.ORG", "tags": "a"},
            {"first_name": "Jan", "last_name": "Kowalski", "phone": "+44 20 7946 0958"},
            {
                "first_name": "Jan",
                "last_name": "Kowalski",
                "phone": "020 7946 0958",
                "country": "GB",
            },
            {"first_name": "Sam", "last_name": "Smith", "union": "Unite"},
            {"first_name": "sam", "last_name": "SMITH", "union": "unite", "tags": "b"},
            {"first_name": "Sam", "last_name": "Smith"},
            {"first_name": "Sam", "last_name": "Smith", "tags": "c"},
        ],
    )
    assert result.counts == counts(created=4, updated=4, unchanged=1)
    assert Contact.objects.count() == 4
    anna = Contact.objects.get(last_name="Nowak")
    assert anna.email == "Anna@example.org"
    assert [t.name for t in anna.tags.all()] == ["a"]
    jan = Contact.objects.get(last_name="Kowalski")
    assert (jan.phone, str(jan.country)) == ("+442079460958", "GB")
    in_union = Contact.objects.get(memberships__union__name="Unite")
    assert (in_union.first_name, in_union.last_name) == ("sam", "SMITH")
    assert [t.name for t in in_union.tags.all()] == ["b"]
    alone = Contact.objects.get(last_name="Smith", memberships=None)
    assert [t.name for t in alone.tags.all()] == ["c"]
    assert Membership.objects.count() == 1


def test_it_matches_rows_to_contacts_made_in_an_earlier_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(contacts_module, "CHUNK_ROWS", 2)
    UnionFactory.create(name="Unite", country="GB")
    result = import_rows(
        tmp_path,
        [
            {"first_name": "Anna", "last_name": "Nowak", "email": "anna@example.org"},
            {"first_name": "Jan", "last_name": "Kowalski", "phone": "+442079460958"},
            {"first_name": "Sam", "last_name": "Smith", "union": "Unite"},
            {"first_name": "Ann", "last_name": "Nowak", "email": "ANNA@example.org"},
            {
                "first_name": "Jan",
                "last_name": "Kowalski",
                "phone": "+44 20 7946 0958",
                "tags": "x",
            },
            {"first_name": "SAM", "last_name": "Smith", "union": "Unite", "trade": "welder"},
            {"first_name": "SAM", "last_name": "Smith", "union": "UNITE"},
        ],
    )
    assert result.counts == counts(created=3, updated=3, unchanged=1)
    assert Contact.objects.count() == 3
    assert Contact.objects.get(email="anna@example.org").first_name == "Ann"


# Updating --------------------------------------------------------------------------------------


def _full_contact() -> Contact:
    union = UnionFactory.create(name="IG Metall", country="DE")
    site = SiteFactory.create(employer__name="Hensoldt", city="Ulm")
    contact = ContactFactory.create(
        first_name="Jürgen",
        last_name="Müller",
        email="jm@example.de",
        phone="+49301234567",
        country="DE",
        timezone="Europe/Berlin",
        employer=site.employer,
        site=site,
        trade="welder",
        preferred_language=Language.objects.get(code="de"),
        notes="Knows everyone.",
        email_consent=Consent.GRANTED,
        email_consent_source=ConsentSource.STAFF,
    )
    contact.languages.add("de", "tr")  # type: ignore[arg-type]
    contact.tags.add(Tag.objects.create(name="steward"))
    MembershipFactory.create(contact=contact, union=union, role="shop_steward")
    return contact


def _as_stored(contact: Contact) -> dict[str, Any]:
    contact = Contact.objects.get(pk=contact.pk)
    return {
        **{
            f.attname: getattr(contact, f.attname)
            for f in Contact._meta.concrete_fields
            if f.attname != "country"
        },
        "country": str(contact.country),
        "languages": sorted(contact.languages.values_list("code", flat=True)),
        "tags": sorted(contact.tags.values_list("name", flat=True)),
        "memberships": sorted(contact.memberships.values_list("union__name", "role")),
    }


def test_it_never_erases_a_value_for_a_blank_cell(tmp_path):
    contact = _full_contact()
    before = _as_stored(contact)
    history = contact.history.count()
    header = list(CONTACT_COLUMNS)
    blank = dict.fromkeys(header, "")
    result = import_rows(
        tmp_path,
        [
            {**blank, "email": "jm@example.de"},  # no name: rejected
            {**blank, "email": "jm@example.de", "last_name": "Müller"},
            {**blank, "phone": "+49 30 1234567", "first_name": "Jürgen"},
            {**blank, "first_name": "jürgen", "last_name": "MÜLLER", "union": "IG Metall"},
        ],
    )
    assert result.counts["rejected"] == 1
    after = _as_stored(contact)
    assert {k: v for k, v in after.items() if before[k] != v} == {
        "first_name": "jürgen",
        "last_name": "MÜLLER",
        "updated_at": after["updated_at"],
    }
    assert result.counts == counts(unchanged=2, updated=1, rejected=1)
    assert contact.history.count() == history + 1


def test_it_replaces_values_with_non_empty_cells(tmp_path, organizer):
    contact = _full_contact()
    result = import_rows(
        tmp_path,
        [
            {
                "email": "JM@example.de",
                "first_name": "Jürgen",
                "last_name": "Müller-Schmidt",
                "phone": "+49 89 1234567",
                "employer": "Airbus",
                "site": "Manching",
                "country": "DE",
                "trade": "engineer",
                "languages": "en",
                "preferred_language": "en",
                "timezone": "Europe/Busingen",
                "notes": "Moved to Bavaria.",
            }
        ],
        user=organizer,
    )
    assert result.counts == counts(updated=1)
    after = _as_stored(contact)
    assert after["email"] == "jm@example.de"
    assert after["last_name"] == "Müller-Schmidt"
    assert after["phone"] == "+49891234567"
    assert after["trade"] == "engineer"
    assert after["languages"] == ["en"]  # a languages cell says which they speak: replaced
    assert after["preferred_language_id"] == "en"
    assert after["timezone"] == "Europe/Busingen"
    assert after["notes"] == "Moved to Bavaria."
    assert after["tags"] == ["steward"]
    assert after["memberships"] == [("IG Metall", "shop_steward")]
    assert after["updated_by_id"] == organizer.pk
    assert after["created_by_id"] is None
    updated = Contact.objects.get(pk=contact.pk)
    assert (updated.employer.name, updated.site.city) == ("Airbus", "Manching")  # type: ignore[union-attr]
    samples = result.summary.samples["updated"]
    assert samples[0].number == 2
    changed = {label for label, _old, _new in samples[0].changes}
    assert {"last name", "phone", "employer", "site", "trade", "languages", "notes"} <= changed


def test_it_adds_tags_and_never_removes_them(tmp_path):
    contact = ContactFactory.create(email="t@example.org", last_name="Tagged")
    contact.tags.add(Tag.objects.create(name="Steward"), Tag.objects.create(name="2023"))
    result = import_rows(
        tmp_path,
        [
            {"email": "t@example.org", "last_name": "Tagged", "tags": "steward"},
            {
                "email": "t@example.org",
                "last_name": "Tagged",
                "tags": "STEWARD; new one,  second  ",
            },
            {"email": "t@example.org", "last_name": "Tagged", "tags": "new one"},
        ],
    )
    assert result.counts == counts(unchanged=2, updated=1)
    assert sorted(contact.tags.values_list("name", flat=True)) == [
        "2023",
        "Steward",
        "new one",
        "second",
    ]
    assert Tag.objects.count() == 4


def test_it_leaves_identical_data_unchanged_and_unwritten(tmp_path):
    contact = _full_contact()
    before = _as_stored(contact)
    history = Contact.history.count()
    result = import_rows(
        tmp_path,
        [
            {
                "first_name": "Jürgen",
                "last_name": "Müller",
                "email": "JM@EXAMPLE.DE",
                "phone": "030 1234567",
                "union": "IG Metall",
                "union_role": "Shop steward",
                "employer": "hensoldt",
                "site": "ulm",
                "country": "Germany",
                "trade": "Welder",
                "languages": "Turkish; de",
                "preferred_language": "Deutsch",
                "timezone": "Europe/Berlin",
                "tags": "STEWARD",
                "email_consent": "yes",
                "notes": "Knows everyone.",
            }
        ],
    )
    assert result.counts == counts(unchanged=1)
    assert _as_stored(contact) == before
    assert Contact.history.count() == history
    assert Membership.history.count() == 1


@pytest.mark.parametrize(
    ("written", "consent"),
    [
        ("yes", Consent.GRANTED),
        ("YES", Consent.GRANTED),
        ("true", Consent.GRANTED),
        ("1", Consent.GRANTED),
        ("Y", Consent.GRANTED),
        ("no", Consent.WITHDRAWN),
        ("False", Consent.WITHDRAWN),
        ("0", Consent.WITHDRAWN),
        ("n", Consent.WITHDRAWN),
    ],
)
def test_it_records_consent_answers_as_given_by_import(tmp_path, written, consent):
    import_rows(tmp_path, [{"last_name": "Nowak", "email_consent": written}])
    contact = Contact.objects.get()
    assert contact.email_consent == consent
    assert contact.email_consent_source == ConsentSource.IMPORT
    assert contact.email_consent_at is not None


def test_it_records_no_consent_for_a_blank_cell(tmp_path):
    import_rows(tmp_path, [{"last_name": "Nowak", "email_consent": ""}])
    contact = Contact.objects.get()
    assert contact.email_consent == Consent.UNKNOWN
    assert contact.email_consent_source == ""
    assert contact.email_consent_at is None


def test_it_changes_consent_only_when_the_answer_changes(tmp_path):
    granted = ContactFactory.create(
        email="g@example.org",
        last_name="Granted",
        email_consent=Consent.GRANTED,
        email_consent_source=ConsentSource.PUBLIC_FORM,
    )
    withdrawing = ContactFactory.create(
        email="w@example.org",
        last_name="Withdrawing",
        email_consent=Consent.GRANTED,
        email_consent_source=ConsentSource.PUBLIC_FORM,
    )
    result = import_rows(
        tmp_path,
        [
            {"email": "g@example.org", "last_name": "Granted", "email_consent": "yes"},
            {"email": "w@example.org", "last_name": "Withdrawing", "email_consent": "no"},
        ],
    )
    assert result.counts == counts(unchanged=1, updated=1)
    granted.refresh_from_db()
    withdrawing.refresh_from_db()
    assert (granted.email_consent, granted.email_consent_source) == ("granted", "public_form")
    assert (withdrawing.email_consent, withdrawing.email_consent_source) == ("withdrawn", "import")


def test_it_keeps_a_consent_record_for_each_answer_it_changes(tmp_path, organizer):
    ContactFactory.create(email="same@example.org", last_name="Same", email_consent=Consent.GRANTED)
    changing = ContactFactory.create(
        email="w@example.org", last_name="Withdrawing", email_consent=Consent.GRANTED
    )
    rows = [
        {"email": "same@example.org", "last_name": "Same", "Consent (2024)": "yes"},
        {"email": "w@example.org", "last_name": "Withdrawing", "Consent (2024)": "no"},
        {"email": "new@example.org", "last_name": "New", "Consent (2024)": "1"},
        {"email": "blank@example.org", "last_name": "Blank", "Consent (2024)": ""},
    ]
    path = write_csv(tmp_path / "consents.csv", table_rows(rows))
    table = read_table(path)
    mapping = detect_mapping(table.headers)
    mapping.fields[table.headers.index("Consent (2024)")] = "email_consent"

    contact_import(table=table, mapping=mapping, dry_run=True, user_id=organizer.pk)
    assert not ConsentRecord.objects.exists()  # a preview keeps nothing

    table = read_table(path)  # its rows are read once
    contact_import(table=table, mapping=mapping, dry_run=False, user_id=organizer.pk)
    records = ConsentRecord.objects.order_by("contact__last_name")
    assert [(r.contact.last_name, r.answer) for r in records] == [
        ("New", Consent.GRANTED),
        ("Withdrawing", Consent.WITHDRAWN),
    ]
    for record in records:
        assert record.source == ConsentSource.IMPORT
        assert record.recorded_by == organizer
        # Nobody said what was asked: the record says where the answer came from.
        assert "“Consent (2024)”" in record.question
        assert "imported file" in record.question
    assert changing.consent_records.get().answer == Consent.WITHDRAWN


def test_it_keeps_the_question_the_organizer_says_was_asked(tmp_path):
    path = write_csv(
        tmp_path / "signed.csv",
        table_rows([{"last_name": "Nowak", "email_consent": "yes"}]),
    )
    table = read_table(path)
    question = "Sign-up sheet, Kongsberg site visit: “May we e-mail you about the consultation?”"
    contact_import(
        table=table,
        mapping=detect_mapping(table.headers),
        dry_run=False,
        consent_question=f"  {question} ",
    )
    assert ConsentRecord.objects.get().question == question


@pytest.mark.parametrize(
    ("country", "timezone", "stored"),
    [
        ("PL", "", "Europe/Warsaw"),
        ("Germany", "", "Europe/Berlin"),
        ("US", "", ""),  # several clocks: the zone must be chosen
        ("US", "America/Chicago", "America/Chicago"),
        ("PL", "Europe/Lisbon", "Europe/Lisbon"),
        ("", "", ""),
    ],
)
def test_it_defaults_the_time_zone_from_the_country(tmp_path, country, timezone, stored):
    import_rows(tmp_path, [{"last_name": "Nowak", "country": country, "timezone": timezone}])
    assert Contact.objects.get().timezone == stored


def test_it_defaults_the_time_zone_of_a_contact_given_a_country(tmp_path):
    contact = ContactFactory.create(email="z@example.org", country="", timezone="")
    import_rows(
        tmp_path, [{"email": "z@example.org", "last_name": contact.last_name, "country": "FI"}]
    )
    contact.refresh_from_db()
    assert (str(contact.country), contact.timezone) == ("FI", "Europe/Helsinki")


def test_it_reads_languages_by_code_and_by_name(tmp_path):
    import_rows(
        tmp_path,
        [
            {
                "last_name": "Polyglot",
                "languages": "de; French, español; ΕΛΛΗΝΙΚΆ;PL; polish",
                "preferred_language": "Italian",
            }
        ],
    )
    contact = Contact.objects.get()
    assert sorted(contact.languages.values_list("code", flat=True)) == [
        "de",
        "el",
        "es",
        "fr",
        "it",  # the preferred language is one they speak
        "pl",
    ]
    assert contact.preferred_language_id == "it"


# Formulas and markup ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("=1+1", "=1+1"),
        ("'=1+1", "=1+1"),  # defused by our own export
        ('=HYPERLINK("http://evil","x")', '=HYPERLINK("http://evil","x")'),
        ("+49 not a phone", "+49 not a phone"),
        ("'+1-2", "+1-2"),
        ("-2+3", "-2+3"),
        ("@SUM(A1:A2)", "@SUM(A1:A2)"),
        ("'@me", "@me"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("'<b>", "'<b>"),  # an apostrophe before anything else is part of the text
        ("O'Brien", "O'Brien"),
        # Our export writes "'=x" as "''=x" (crm.exports.safe_cell): one apostrophe goes.
        ("''=x", "'=x"),
        ("'''x", "''x"),
    ],
)
def test_it_stores_formula_and_markup_text_as_the_text_it_is(tmp_path, written, stored):
    result = import_rows(
        tmp_path,
        [
            {
                "first_name": written,
                "last_name": written,
                "notes": written,
                "employer": written,
                "site": written,
                "country": "FR",
            }
        ],
    )
    assert result.counts == counts(created=1)
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.notes) == (stored, stored, stored)
    assert (contact.employer.name, contact.site.name, contact.site.city) == (stored,) * 3  # type: ignore[union-attr]
    if "," not in written:  # a comma separates tags
        import_rows(tmp_path, [{"first_name": written, "last_name": written, "tags": written}])
        assert [tag.name for tag in contact.tags.all()] == [stored]


def test_it_defuses_formulas_in_the_error_file(tmp_path):
    result = import_rows(tmp_path, [{"first_name": "=cmd|'/c calc'!A1", "email": "@bad"}])
    assert result.counts == counts(rejected=1)
    assert result.errors[0]["first_name"] == "'=cmd|'/c calc'!A1"
    assert result.errors[0]["email"] == "'@bad"


# Inputs ----------------------------------------------------------------------------------------


def test_it_imports_xlsx(tmp_path):
    UnionFactory.create(name="Unite", country="GB")
    path = write_xlsx(
        tmp_path / "Members.xlsx",
        [
            [
                "Given name",
                "Family name",
                "Email address",
                "Telephone",
                "Country",
                "Union",
                "Consent",
            ],
            ["Sam", "Smith", "sam@example.org", "+44 20 7946 0958", "GB", "Unite", True],
            [None, None, None, None, None, None, None],
            ["Pat", "Jones", None, 442079460959, "United Kingdom", None, 0],
            ["=1+1", "'=2+2", None, None, None, None, None],
        ],
    )
    result = run(path)
    assert result.counts == counts(created=3)
    sam = Contact.objects.get(last_name="Smith")
    assert (sam.email, sam.phone, sam.email_consent) == (
        "sam@example.org",
        "+442079460958",
        "granted",
    )
    assert sam.memberships.get().union.name == "Unite"
    pat = Contact.objects.get(last_name="Jones")
    assert (pat.phone, str(pat.country), pat.email_consent) == ("+442079460959", "GB", "withdrawn")
    # openpyxl stores "=1+1" as a formula, which has no value until a spreadsheet computes it.
    assert Contact.objects.filter(last_name="=2+2").exists()


def test_it_imports_semicolon_separated_windows_1252_csv(tmp_path):
    path = write_csv(
        tmp_path / "Mitglieder.csv",
        [
            ["Vorname", "Nachname", "E-Mail", "Country", "Notes"],
            ["Hélène", "Lefèvre", "helene@example.fr", "FR", "Cotisation 12,50 €; payée"],
            ["Jürgen", "Müßig", "", "DE", "Œuvre"],
        ],
        delimiter=";",
        encoding="cp1252",
    )
    result = run(path)
    assert result.errors == []
    assert result.counts == counts(created=2)
    helene = Contact.objects.get(email="helene@example.fr")
    assert (helene.first_name, helene.last_name) == ("Hélène", "Lefèvre")
    assert helene.notes == "Cotisation 12,50 €; payée"
    assert Contact.objects.get(last_name="Müßig").notes == "Œuvre"


# Transactions ----------------------------------------------------------------------------------


def test_it_writes_nothing_in_a_dry_run_but_counts_the_same(tmp_path):
    ContactFactory.create(email="old@example.org", last_name="Old")
    before = stored_rows()
    records = [
        {"last_name": "New", "email": "new@example.org", "tags": "fresh", "employer": "Acme"},
        {"last_name": "Old", "email": "old@example.org", "phone": "+44 20 7946 0958"},
        {"last_name": "Bad", "email": "bad"},
    ]
    preview = import_rows(tmp_path, records, dry_run=True)
    assert preview.counts == counts(created=1, updated=1, rejected=1)
    assert stored_rows() == before
    done = import_rows(tmp_path, records)
    assert done.counts == preview.counts
    assert done.messages == preview.messages
    assert Contact.objects.count() == 2


def test_it_imports_the_valid_rows_of_a_file_with_rejected_ones(tmp_path):
    result = import_rows(
        tmp_path,
        [
            {"last_name": "One", "email": "1@example.org"},
            {"last_name": "Two", "email": "two"},
            {"last_name": "Three", "email": "3@example.org"},
        ],
    )
    assert result.counts == counts(created=2, rejected=1)
    assert set(Contact.objects.values_list("last_name", flat=True)) == {"One", "Three"}


def test_it_writes_nothing_when_the_import_fails_midway(tmp_path, monkeypatch):
    monkeypatch.setattr(contacts_module, "CHUNK_ROWS", 2)
    UnionFactory.create(name="Unite", country="GB")
    ContactFactory.create(email="old@example.org", last_name="Old")
    before = stored_rows()
    real_insert = bulk.insert_rows
    contact_inserts = itertools.count(1)

    def failing_insert(model, columns, rows):
        if model is Contact and next(contact_inserts) == 2:
            raise RuntimeError("the database went away")
        real_insert(model, columns, rows)

    monkeypatch.setattr(bulk, "insert_rows", failing_insert)
    with pytest.raises(RuntimeError, match="went away"):
        import_rows(
            tmp_path,
            [
                {
                    "last_name": f"P{n}",
                    "email": f"p{n}@example.org",
                    "tags": f"t{n}",
                    "union": "Unite",
                    "employer": f"E{n}",
                }
                for n in range(5)
            ]
            + [{"last_name": "Old", "email": "old@example.org", "phone": "+442079460958"}],
        )
    assert stored_rows() == before
    assert Contact.objects.get().phone == ""


# History ---------------------------------------------------------------------------------------


def test_it_records_history_of_imported_contacts(tmp_path, organizer):
    union = UnionFactory.create(name="Unite", country="GB")
    first = import_rows(
        tmp_path,
        [
            {
                "first_name": "Sam",
                "last_name": "Smith",
                "email": "sam@example.org",
                "languages": "en",
                "tags": "leaflet",
                "union": "Unite",
            }
        ],
        user=organizer,
        reason="Import #1 (first.csv)",
    )
    assert first.counts == counts(created=1)
    contact = Contact.objects.get()
    versions = list(contact.history.order_by("history_date"))
    assert [v.history_type for v in versions] == ["+"]
    assert versions[0].history_user == organizer
    assert versions[0].history_change_reason == "Import #1 (first.csv)"
    assert versions[0].last_name == "Smith"
    assert [t.tag.name for t in versions[0].tags.all()] == ["leaflet"]
    assert [lang.language_id for lang in versions[0].languages.all()] == ["en"]
    membership_version = Membership.history.get()
    assert (membership_version.history_type, membership_version.union_id) == ("+", union.pk)
    assert membership_version.history_user == organizer

    # Imports in quick succession would be shown as one save: move the first back in time.
    contact.history.update(history_date=F("history_date") - timedelta(hours=1))
    second = import_rows(
        tmp_path,
        [
            {
                "first_name": "Sam",
                "last_name": "Smith",
                "email": "sam@example.org",
                "phone": "+44 20 7946 0958",
                "languages": "en; cy",
                "tags": "steward",
                "union": "Unite",
                "union_role": "shop steward",
            }
        ],
        user=organizer,
        reason="Import #2 (second.csv)",
    )
    assert second.counts == counts(updated=1)
    third = import_rows(
        tmp_path,
        [
            {
                "first_name": "Sam",
                "last_name": "Smith",
                "email": "sam@example.org",
                "tags": "leaflet",
            }
        ],
        user=organizer,
    )
    assert third.counts == counts(unchanged=1)

    versions = list(contact.history.order_by("history_date"))
    assert [v.history_type for v in versions] == ["+", "~"]
    assert versions[1].phone == "+442079460958"
    assert versions[1].history_change_reason == "Import #2 (second.csv)"
    assert sorted(t.tag.name for t in versions[1].tags.all()) == ["leaflet", "steward"]
    assert sorted(lang.language_id for lang in versions[1].languages.all()) == ["cy", "en"]
    # The first version's snapshots are what they were then.
    assert [t.tag.name for t in versions[0].tags.all()] == ["leaflet"]
    assert [v.history_type for v in Membership.history.order_by("history_date", "history_id")] == [
        "+",
        "~",
    ]

    entries = history_entries(obj=contact)
    assert [entry.kind for entry in entries] == ["~", "+"]
    assert entries[0].who == organizer
    changes = {label: (old, new) for label, old, new in entries[0].changes}
    assert changes["phone"] == ("—", "+442079460958")
    assert changes["tags"] == ("leaflet", "leaflet, steward")
    assert changes["languages"][0] == "English"
    assert set(changes) == {"phone", "tags", "languages"}
    assert entries[1].changes == []


def test_it_writes_one_history_row_per_changed_contact_per_import(tmp_path):
    ContactFactory.create(email="a@example.org", last_name="A")
    ContactFactory.create(email="b@example.org", last_name="B")
    before = Contact.history.count()
    result = import_rows(
        tmp_path,
        [
            {"email": "a@example.org", "last_name": "A", "tags": "x"},
            {"email": "A@example.org", "last_name": "A", "tags": "y", "trade": "welder"},
            {"email": "b@example.org", "last_name": "B"},
            {"email": "c@example.org", "last_name": "C", "tags": "x"},
            {"email": "c@example.org", "last_name": "C", "tags": "z"},
        ],
    )
    assert result.counts == counts(created=1, updated=3, unchanged=1)
    assert Contact.history.count() == before + 2
    created = Contact.objects.get(email="c@example.org")
    assert created.history.get().history_type == "+"
    assert sorted(t.tag.name for t in created.history.get().tags.all()) == ["x", "z"]


def test_it_versions_a_contact_only_when_the_contact_changes(tmp_path):
    unite = UnionFactory.create(name="Unite", country="GB")
    contact = ContactFactory.create(email="m@example.org", last_name="Member")
    versions = contact.history.count()
    row = {"email": "m@example.org", "last_name": "Member", "union": "Unite"}
    assert import_rows(tmp_path, [row]).counts == counts(updated=1)
    assert import_rows(tmp_path, [{**row, "union_role": "staff"}]).counts == counts(updated=1)
    # A membership has a history of its own; the contact's would only repeat itself.
    assert contact.history.count() == versions
    assert [
        (v.history_type, v.union_id, v.role) for v in Membership.history.order_by("history_id")
    ] == [
        ("+", unite.pk, "member"),
        ("~", unite.pk, "staff"),
    ]


# Round trip ------------------------------------------------------------------------------------


def _export_and_import(tmp_path: Path, client: Any, file_format: str = "csv") -> Result:
    """Download the contact list as an organizer would, and import the file as it is."""
    response = client.get(reverse("crm:contact_export", args=[file_format]))
    path = tmp_path / f"export-{next(_files)}.{file_format}"
    if file_format == "xlsx":
        path.write_bytes(response.content)
    else:
        path.write_bytes(b"".join(response.streaming_content))
    return run(path)


def _people_of_every_kind() -> None:
    union = UnionFactory.create(name="ΠΟΕ-ΟΤΑ", acronym="POE", country="GR")
    local = UnionFactory.create(name="Unite", country="GB")
    site = SiteFactory.create(
        employer__name="BAE Systems", name="Yard", city="Barrow", country="GB"
    )
    greek = MembershipFactory.create(
        contact__first_name="Ελένη",
        contact__last_name="Οικονόμου",
        contact__country="GR",
        contact__timezone="Europe/Athens",
        contact__phone="+302101234567",
        contact__preferred_language=Language.objects.get(code="el"),
        contact__trade="engineer",
        union=union,
        role="shop_steward",
    ).contact
    greek.languages.add("el", "en")  # type: ignore[arg-type]
    greek.tags.add(Tag.objects.create(name="site visit"), Tag.objects.create(name="Leaflet"))
    ContactFactory.create(
        first_name='=HYPERLINK("http://evil")',
        last_name="@SUM(A1)",
        notes="+1-2\nline two, with a comma; and a semicolon",
        email="-dash@example.org",
        employer=site.employer,
        site=site,
        email_consent=Consent.WITHDRAWN,
    )
    # Known only by name and union, or by phone.
    MembershipFactory.create(
        contact__first_name="Sam", contact__last_name="Smith", contact__email="", union=local
    )
    ContactFactory.create(
        first_name="",
        last_name="Phone-Only",
        email="",
        phone="+442079460958",
        country="GB",
        timezone="Europe/London",
        email_consent=Consent.UNKNOWN,
    )
    ContactFactory.create(
        first_name="Nobody", last_name="Special", email="", country="", timezone=""
    )


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_it_imports_its_own_export_back_as_unchanged(tmp_path, manager_client, file_format):
    _people_of_every_kind()
    before = stored_rows()
    result = _export_and_import(tmp_path, manager_client, file_format)
    assert result.errors == []
    assert result.counts == counts(unchanged=Contact.objects.count())
    assert stored_rows() == before


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_it_imports_back_a_note_typed_in_a_text_area(tmp_path, manager_client, file_format):
    # Browsers send "\r\n"; XLSX keeps "\n" of it: the same note all the same.
    contact = ContactFactory.create(notes="line one\r\nline two\r\n\r\nline four")
    result = _export_and_import(tmp_path, manager_client, file_format)
    assert result.counts == counts(unchanged=1)
    contact.refresh_from_db()
    assert contact.notes == "line one\r\nline two\r\n\r\nline four"
    row = {"email": contact.email, "last_name": contact.last_name}
    assert import_rows(tmp_path, [{**row, "notes": "line one\nline two"}]).counts == counts(
        updated=1
    )


def test_it_imports_back_an_export_of_a_membership_ending_later(tmp_path, manager_client):
    membership = MembershipFactory.create(
        contact__first_name="Sam",
        contact__last_name="Smith",
        contact__email="",
        end_date=date.today() + timedelta(days=30),
    )
    before = stored_rows()
    result = _export_and_import(tmp_path, manager_client)
    assert result.counts == counts(unchanged=1)
    assert stored_rows() == before
    assert membership.contact.memberships.get() == membership


# Known gaps: each fails today, strictly, so that whoever closes one removes its marker.


def test_it_imports_back_a_contact_known_by_name_beside_a_namesake_with_an_email(
    tmp_path, manager_client
):
    ContactFactory.create(first_name="Anna", last_name="Nowak", email="")
    ContactFactory.create(first_name="Anna", last_name="Nowak", email="anna@example.pl")
    result = _export_and_import(tmp_path, manager_client)
    assert result.counts == counts(unchanged=2)


def test_it_imports_back_a_member_of_one_of_two_unions_of_the_same_name(tmp_path, manager_client):
    UnionFactory.create(name="GMB", acronym="", country="GB")
    MembershipFactory.create(
        contact__country="IE",
        contact__timezone="Europe/Dublin",
        union__name="GMB",
        union__acronym="",
        union__country="AT",
    )
    result = _export_and_import(tmp_path, manager_client)
    assert result.counts == counts(unchanged=1)


def test_it_imports_back_text_that_starts_with_an_apostrophe_and_a_formula_sign(
    tmp_path, manager_client
):
    ContactFactory.create(first_name="'=x", last_name="'+1")
    result = _export_and_import(tmp_path, manager_client)
    assert result.counts == counts(unchanged=1)


def test_it_creates_no_union_for_a_row_refused_as_ambiguous(tmp_path):
    ContactFactory.create(first_name="A", last_name="One", email="", phone="+48601234567")
    ContactFactory.create(first_name="B", last_name="Two", email="", phone="+48601234567")
    result = import_rows(
        tmp_path,
        [{"last_name": "Three", "phone": "+48601234567", "union": "New", "country": "PL"}],
        create_unions=True,
    )
    assert result.counts == counts(rejected=1)
    assert Union.objects.count() == 0


# Scale -----------------------------------------------------------------------------------------


def _queries_to_import(tmp_path: Path, rows: int) -> int:
    records = [
        {
            "first_name": f"First{n}",
            "last_name": f"Last{n}",
            # A third matched by email, a third by phone, a third by name and union.
            "email": f"person{n}@example.org" if n % 3 == 0 else "",
            "phone": f"+4930{1000000 + n}" if n % 3 == 1 else "",
            "union": "Unite" if n % 2 else "",
            "employer": f"Employer {n % 7}",
            "country": "DE",
            "languages": "de; en",
            "tags": f"tag{n % 5}; all",
        }
        for n in range(rows)
    ]
    path = write_csv(tmp_path / f"scale-{rows}.csv", table_rows(records))
    with connection.cursor() as cursor:
        # Whether the import ends with ANALYZE depends on the table's size as last analyzed,
        # which an earlier test's rollback kept: made the same for every count.
        cursor.execute("ANALYZE crm_contact")
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            result = run(path)
        assert result.counts == counts(created=rows)
        transaction.set_rollback(True)
    return len(queries)


@pytest.mark.services
def test_it_imports_in_a_number_of_queries_that_grows_with_chunks_not_rows(postgres, tmp_path):
    assert contacts_module.CHUNK_ROWS == 2000
    UnionFactory.create(name="Unite", country="GB")
    one_thousand = _queries_to_import(tmp_path, 1_000)
    # One chunk either way: not one query more for twice the rows.
    assert _queries_to_import(tmp_path, 2_000) == one_thousand
    ten_thousand = _queries_to_import(tmp_path, 10_000)
    assert one_thousand < 100
    assert ten_thousand <= 5 * one_thousand + 10


@pytest.mark.services
def test_it_updates_in_a_number_of_queries_that_grows_with_chunks_not_rows(postgres, tmp_path):
    UnionFactory.create(name="Unite", country="GB")

    def queries(rows: int) -> int:
        records = [
            {"last_name": f"Last{n}", "email": f"u{rows}-{n}@example.org", "tags": "old"}
            for n in range(rows)
        ]
        run(write_csv(tmp_path / f"first-{rows}.csv", table_rows(records)))
        for n, record in enumerate(records):
            record.update(tags="new", union="Unite", trade="welder", phone=f"+4930{1000000 + n}")
        path = write_csv(tmp_path / f"second-{rows}.csv", table_rows(records))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE crm_contact")  # as in _queries_to_import
        with CaptureQueriesContext(connection) as captured:
            result = run(path)
        assert result.counts == counts(updated=rows)
        return len(captured)

    one_thousand = queries(1_000)
    ten_thousand = queries(10_000)
    assert one_thousand < 100
    assert ten_thousand <= 5 * one_thousand + 10


def _pages(ids: list[int]) -> dict[int, int]:
    """The page of crm_contact that holds each contact's current row."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, (ctid::text::point)[0]::int FROM crm_contact WHERE id = ANY(%s)", [ids]
        )
        return dict(cursor.fetchall())


@pytest.mark.services
def test_it_updates_a_third_of_the_contacts_inside_the_pages_that_hold_them(postgres, tmp_path):
    # A new version of a row that finds no room in its page moves, and every index of the table
    # gets an entry for it, the trigram one included; in its page (a heap-only tuple) it adds
    # none. Old versions stay until the transaction ends, so the room must be there already.
    records = [
        {
            "first_name": "Ελένη",
            "last_name": f"Οικονόμου-{n}",
            "email": f"eleni{n}@example.org",
            "phone": f"+4930{2000000 + n}",
            "country": "DE",
            "trade": "welder",
        }
        for n in range(600)
    ]
    run(write_csv(tmp_path / "first.csv", table_rows(records)))
    ids = dict(Contact.objects.values_list("email", "id"))
    before = _pages(list(ids.values()))
    assert len(set(before.values())) > 10  # spread over many pages
    again = records[::3]
    for record in again:
        record["trade"] = "machinist"
    result = run(write_csv(tmp_path / "second.csv", table_rows(again)))
    assert result.counts == counts(updated=200)
    changed = [ids[record["email"]] for record in again]
    after = _pages(changed)
    assert {pk: before[pk] for pk in changed} == after


@pytest.mark.services
def test_it_gives_the_planner_statistics_of_the_tables_a_large_import_filled(postgres, tmp_path):
    expected = {
        "crm_contact": 120,
        "crm_contact_tags": 240,
        "crm_contact_languages": 240,
        "crm_membership": 120,
        "crm_consentrecord": 120,
        "crm_historicalcontact": 120,
        "crm_historicalcontact_tags": 240,
        "crm_historicalcontact_languages": 240,
        "crm_historicalmembership": 120,
    }

    def estimated() -> dict[str, float]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)", [list(expected)]
            )
            return dict(cursor.fetchall())

    UnionFactory.create(name="Unite", country="GB")
    records = [
        {
            "last_name": f"Kowalska-{n}",
            "email": f"k{n}@example.org",
            "tags": "steel; night",
            "languages": "pl; en",
            "union": "Unite",
            "email_consent": "yes",
        }
        for n in range(120)
    ]
    path = write_csv(tmp_path / "contacts.csv", table_rows(records))
    with connection.cursor() as cursor:
        # The sizes ANALYZE writes are kept by a rollback: an earlier test's may be there.
        cursor.execute(f"ANALYZE {', '.join(expected)}")
    assert run(path, dry_run=True).counts == counts(created=120)
    # A preview leaves the statistics as they were.
    assert estimated() == dict.fromkeys(expected, 0)
    assert run(path).counts == counts(created=120)
    assert estimated() == expected  # every table the import wrote, its rows counted


# Anything at all in a cell ---------------------------------------------------------------------

# Pieces that have broken importers: control characters, NUL, bidirectional marks, a byte-order
# mark, line breaks, formula prefixes, quotes and separators, markup, an emoji sequence.
PIECES = [
    *"\x00\x01\x1b\x7f\u200f\u202e\u200b\ufeff\u2028\r\n\t =+-@'\",;<>/\\aЖ",
    "👩🏽‍🔧",
    "<script>",
    "</b>",
    "=HYPERLINK(",
]
TRICKY = st.one_of(
    st.text(max_size=120),
    st.lists(st.sampled_from(PIECES), max_size=30).map("".join),
    st.sampled_from(
        [
            "=1+1",
            "'=1+1",
            "<script>alert(1)</script>",
            "@SUM(A1)",
            "+1",
            "-1",
            "\u202egnp.exe",
            "a\x00b",
            "NULL",
            "None",
            "0",
            "yes",
            "de",
            "DE",
            "Europe/Berlin",
            "x" * 101,
        ]
    ),
)
EXACT = {"first_name", "last_name", "notes"}


@settings(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(column=st.sampled_from(CONTACT_COLUMNS), text=TRICKY)
def test_it_stores_or_rejects_whatever_a_cell_holds(tmp_path, column, text):
    header = ["first_name", "last_name", "email"]
    row = {"first_name": "Anna", "last_name": "Nowak", "email": "", column: text}
    header += [column] if column not in header else []
    path = write_csv(tmp_path / f"cell-{next(_files)}.csv", [header, [row[c] for c in header]])
    with transaction.atomic():
        before = stored_rows()
        result = run(path)
        after = stored_rows()
        if result.counts["rejected"]:
            assert result.counts == counts(rejected=1)
            # The row always has a name: what is wrong is in the column under test.
            assert result.messages[0].startswith(f"Row 2, column “{column}”: ")
            assert "\x00" not in result.messages[0]
            assert after == before
        else:
            assert result.counts == counts(created=1)
            assert after["contacts"] == before["contacts"] + 1
            assert after["contact history"] == before["contact history"] + 1
            contact = Contact.objects.get()
            if column in EXACT:
                # Spreadsheet cells are trimmed; our exports' apostrophe comes off.
                assert getattr(contact, column) == unescape(text.strip())
        # The same file again finds what the first run left: nothing more to do.
        again = run(path)
        assert again.counts == counts(
            unchanged=1 - result.counts["rejected"], rejected=result.counts["rejected"]
        )
        assert again.messages == result.messages
        assert stored_rows() == after
        transaction.set_rollback(True)


@st.composite
def people(draw: st.DrawFn) -> list[dict[str, str]]:
    """A few rows of arbitrary text, each a different person (by email, phone or name)."""
    rows = []
    for index in range(draw(st.integers(min_value=1, max_value=4))):
        key = draw(st.sampled_from(["email", "phone", "name"]))
        employer = draw(st.one_of(st.sampled_from(["", "Acme"]), TRICKY))
        country = draw(st.sampled_from(["", "DE", "PL", "GB", "US"]))
        union = draw(st.sampled_from(["", "Unite", "IG Metall"]))
        rows.append(
            {
                "first_name": draw(TRICKY),
                # Different people have different names: name-only rows match by name.
                "last_name": f"{draw(TRICKY)} #{index}",
                "email": f"p{index}@example.org" if key == "email" else "",
                "phone": f"+4930{1000000 + index}" if key == "phone" else "",
                "union": union,
                "union_role": draw(st.sampled_from(["", "shop_steward"])) if union else "",
                "employer": employer,
                "site": draw(TRICKY) if employer and country else "",
                "country": country,
                "trade": draw(st.sampled_from(["", "welder", "engineer"])),
                "languages": ";".join(draw(st.sets(st.sampled_from(["de", "en", "pl"])))),
                "preferred_language": draw(st.sampled_from(["", "de"])),
                "timezone": draw(st.sampled_from(["", "", "Europe/Lisbon"])),
                "tags": draw(TRICKY),
                "email_consent": draw(st.sampled_from(["", "yes", "no"])),
                "notes": draw(TRICKY),
            }
        )
    return rows


@settings(
    deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=people())
def test_it_imports_back_its_export_of_whatever_it_imported(tmp_path, manager_client, records):
    with transaction.atomic():
        UnionFactory.create(name="Unite", country="GB")
        UnionFactory.create(name="IG Metall", country="DE")
        first = import_rows(tmp_path, records)
        assert first.summary.rows == len(records)
        assert first.counts["updated"] == first.counts["unchanged"] == 0
        event(f"created {first.counts['created']} of {len(records)}")
        before = stored_rows()
        again = _export_and_import(tmp_path, manager_client)
        assert again.errors == []
        assert again.counts == counts(unchanged=first.counts["created"])
        assert stored_rows() == before
        transaction.set_rollback(True)


# A preview keeps what it created and changed in memory ------------------------------------------


@st.composite
def overlapping_people(draw: st.DrawFn) -> list[dict[str, str]]:
    """Rows that name the same few people again and again, by email, phone or names, changing
    their phones, names, unions, roles, tags and languages on the way."""
    rows = []
    for _index in range(draw(st.integers(min_value=1, max_value=12))):
        key = draw(st.sampled_from(["email", "phone", "name", "email+phone"]))
        union = draw(st.sampled_from(["", "Unite", "IG Metall"]))
        rows.append(
            {
                "first_name": draw(st.sampled_from(["Anna", "ANNA", "Jan", "Łukasz", ""])),
                "last_name": draw(st.sampled_from(["Nowak", "nowak", "Müller", "Muller"])),
                "email": draw(st.sampled_from(["a@example.org", "b@example.org"]))
                if "email" in key
                else "",
                "phone": draw(st.sampled_from(["+493010000001", "+493010000002"]))
                if "phone" in key
                else "",
                "union": union,
                "union_role": draw(st.sampled_from(["", "shop_steward", "member"]))
                if union
                else "",
                "trade": draw(st.sampled_from(["", "welder", "engineer"])),
                "languages": ";".join(draw(st.sets(st.sampled_from(["de", "en"])))),
                "tags": draw(st.sampled_from(["", "x", "y; x"])),
                "country": draw(st.sampled_from(["", "DE"])),
            }
        )
    return rows


@settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    existing=overlapping_people(),
    records=overlapping_people(),
    chunk=st.integers(min_value=1, max_value=3),
    kept_max=st.sampled_from([0, 1, 100_000]),
)
def test_it_previews_exactly_what_the_import_then_does(
    tmp_path, monkeypatch, existing, records, chunk, kept_max
):
    # Kept at most 0 or 1: written at the end of (almost) every chunk, as an import writes.
    monkeypatch.setattr(contacts_module, "CHUNK_ROWS", chunk)
    monkeypatch.setattr(contacts_module, "PREVIEW_KEPT_MAX", kept_max)
    monkeypatch.setattr(contacts_module, "PREVIEW_DEFERRED_MAX", kept_max)
    with transaction.atomic():
        UnionFactory.create(name="Unite", country="GB")
        UnionFactory.create(name="IG Metall", country="DE")
        import_rows(tmp_path, existing)
        before = stored_rows()
        preview = import_rows(tmp_path, records, dry_run=True)
        assert stored_rows() == before
        real = import_rows(tmp_path, records)
        event(f"{real.counts}")
        assert preview.counts == real.counts
        assert preview.summary.samples == real.summary.samples
        assert preview.errors == real.errors
        transaction.set_rollback(True)


def test_it_previews_changes_it_had_to_write_as_later_rows_then_find_them(monkeypatch, tmp_path):
    # Past PREVIEW_DEFERRED_MAX, the changes a preview kept in memory are written: every
    # column where it belongs, the search text included, or the next row misses or misreads them.
    monkeypatch.setattr(contacts_module, "CHUNK_ROWS", 1)
    monkeypatch.setattr(contacts_module, "PREVIEW_DEFERRED_MAX", 0)
    ContactFactory.create(
        first_name="Anna", last_name="Kowalska", email="anna@example.org", trade="welder"
    )
    rows = [
        ["first_name", "last_name", "email", "trade", "timezone"],
        ["Anna", "Kowalska", "anna@example.org", "machinist", "Europe/Warsaw"],
        ["Anna", "Kowalska", "", "machinist", "Europe/Warsaw"],  # found by name alone
    ]
    path = write_csv(tmp_path / "twice.csv", rows)
    assert run(path, dry_run=True).counts == counts(updated=1, unchanged=1)
    assert run(path).counts == counts(updated=1, unchanged=1)


def test_it_gives_back_a_language_an_earlier_row_of_the_file_took_away(tmp_path):
    # Found by the test above: the link was added again beside the one never deleted.
    import_rows(tmp_path, [{"first_name": "Anna", "email": "a@example.org", "languages": "de"}])
    result = import_rows(
        tmp_path,
        [
            {"first_name": "Anna", "email": "a@example.org", "languages": "en"},
            {"first_name": "Anna", "email": "a@example.org", "languages": "en;de"},
        ],
    )
    assert result.counts == counts(updated=2)
    anna = Contact.objects.get(email="a@example.org")
    assert sorted(anna.languages.values_list("code", flat=True)) == ["de", "en"]
