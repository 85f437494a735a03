"""export_contacts, export_unions, export_consultations and the union export page: files in the
importers' columns that import back as all unchanged, with nothing a spreadsheet would run."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from crm.importing.headers import CONSULTATION_COLUMNS, CONTACT_COLUMNS, UNION_COLUMNS
from crm.models import Contact, Language, Membership, Tag, Union
from outreach.models import Attendance, Concern, Consultation, Topic
from tests.crm.test_importing_unions import command, counts, run_import
from tests.factories import ConsultationFactory, ContactFactory, UnionFactory, UserFactory

pytestmark = pytest.mark.django_db

COLUMNS = {
    "contacts": CONTACT_COLUMNS,
    "unions": UNION_COLUMNS,
    "consultations": CONSULTATION_COLUMNS,
}
# Text a spreadsheet would take for a formula, one for each character that starts one.
FORMULAS = ["=1+1", "+49 30 1234", "-2", "@SUM(A1)", "\tindented", "\rreturned"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


@pytest.fixture
def unions(db) -> dict[str, Union]:
    industriall = UnionFactory.create(
        name="IndustriALL Global Union",
        acronym="IndustriALL",
        country="",
        kind=Union.Kind.GLOBAL_FEDERATION,
    )
    dgb = UnionFactory.create(
        name="Deutscher Gewerkschaftsbund",
        acronym="DGB",
        country="DE",
        kind=Union.Kind.NATIONAL_CENTRE,
        website="https://www.dgb.de",
    )
    ig_metall = UnionFactory.create(
        name="IG Metall",
        acronym="IGM",
        country="DE",
        membership_size=2_150_000,
        website="https://www.igmetall.de",
        notes="=the biggest\nand oldest",
    )
    ig_metall.affiliations.add(dgb, industriall)
    ig_metall.sectors.add("aerospace", "land-systems")  # type: ignore[arg-type]
    kiel = UnionFactory.create(
        name="IG Metall Kiel", acronym="", country="DE", kind=Union.Kind.LOCAL, parent=ig_metall
    )
    kiel.affiliations.add(dgb)
    fiom = UnionFactory.create(
        name="Federazione Impiegati Operai Metallurgici",
        acronym="@FIOM",
        country="IT",
        membership_size=0,
    )
    fiom.affiliations.add(industriall)
    return {"industriall": industriall, "dgb": dgb, "ig_metall": ig_metall, "fiom": fiom}


@pytest.fixture
def contacts(unions) -> list[Contact]:
    anna = ContactFactory.create(
        first_name="Anna",
        last_name="Nowak",
        email="anna@example.pl",
        phone="+48601234567",
        country="PL",
        timezone="Europe/Warsaw",
        notes="-not a formula",
        preferred_language=Language.objects.get(code="pl"),
    )
    anna.languages.add(Language.objects.get(code="pl"), Language.objects.get(code="en"))
    anna.tags.add(Tag.objects.create(name="steward"), Tag.objects.create(name="2024"))
    Membership.objects.create(contact=anna, union=unions["ig_metall"], role="shop_steward")
    eleni = ContactFactory.create(
        first_name="Ελένη", last_name="Οικονόμου", email="", country="GR", timezone="Europe/Athens"
    )
    jens = ContactFactory.create(
        first_name="=Jens", last_name="Møller", email="jens@metal.dk", country="DK", notes="@x"
    )
    return [anna, eleni, jens]


@pytest.fixture
def consultations(contacts, unions, outreach_staffer) -> list[Consultation]:
    anna, eleni, jens = contacts
    held = ConsultationFactory.create(
        title='=HYPERLINK("http://evil")',
        starts_at=datetime(2025, 3, 4, 13, 30, tzinfo=UTC),
        country="DE",
        city="@Kiel",
        format=Consultation.Format.SITE_VISIT,
        position=Consultation.Position.CONDITIONAL,
        summary="-they want more\r\nand said so",
        lead=outreach_staffer,
    )
    held.unions.add(unions["ig_metall"], unions["industriall"])
    held.attendees.add(anna, through_defaults={"role": Attendance.Role.SPEAKER})
    held.attendees.add(eleni, jens)
    held.topics.add(*Topic.objects.filter(slug__in=["welding", "safety"]))
    held.concerns.add(*Concern.objects.filter(slug="wages"))
    # In the United States (several time zones, so UTC), at night: the same day as in the file.
    late = ConsultationFactory.create(
        title="Late call",
        starts_at=datetime(2025, 3, 4, 23, 45, tzinfo=UTC),
        country="US",
        format=Consultation.Format.VIDEO,
        lead=outreach_staffer,
    )
    late.attendees.add(jens)
    # Led by someone who has left since: the export still imports back.
    late.lead = UserFactory.create(username="gone", is_active=False)
    late.save()
    planned = ConsultationFactory.create(
        title="Next visit",
        starts_at=(timezone.now() + timedelta(days=30)).replace(second=0, microsecond=0),
        status=Consultation.Status.PLANNED,
        country="",
        lead=outreach_staffer,
    )
    planned.unions.add(unions["fiom"])
    return [held, late, planned]


def export(kind: str, path: Path) -> Path:
    status, lines, err = command(f"export_{kind}", str(path))
    assert (status, err) == (0, "")
    assert lines[-1].endswith(f"rows written to {path}")
    return path


def read_back(path: Path) -> list[list[str]]:
    """The file's cells as written, header first."""
    if path.suffix == ".xlsx":
        sheet = load_workbook(path, read_only=True).worksheets[0]
        return [["" if cell is None else str(cell) for cell in row] for row in sheet.values]
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def stored() -> dict[str, list[tuple]]:
    """What the database holds of the three kinds, to compare before and after an import."""
    return {
        "contacts": list(Contact.objects.order_by("pk").values_list()),
        "memberships": list(Membership.objects.order_by("pk").values_list()),
        "unions": list(Union.objects.order_by("pk").values_list()),
        "affiliations": list(Union.affiliations.through.objects.order_by("pk").values_list()),
        "consultations": list(Consultation.objects.order_by("pk").values_list()),
        "attendances": list(Attendance.objects.order_by("pk").values_list()),
    }


# Round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize(("kind", "rows"), [("contacts", 3), ("unions", 5), ("consultations", 3)])
def test_it_exports_a_file_that_imports_back_as_all_unchanged(
    tmp_path, consultations, outreach_staffer, kind, rows, suffix
):
    path = export(kind, tmp_path / f"{kind}{suffix}")
    before = stored()

    result = run_import(kind, path, user=outreach_staffer)

    assert result.errors == []
    assert result.counts == counts(unchanged=rows)
    assert stored() == before


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_it_writes_the_importers_columns(tmp_path, consultations, suffix):
    for kind, columns in COLUMNS.items():
        cells = read_back(export(kind, tmp_path / f"{kind}{suffix}"))
        assert cells[0] == list(columns)

    unions = {
        row[0]: dict(zip(UNION_COLUMNS, row, strict=True))
        for row in read_back(tmp_path / f"unions{suffix}")[1:]
    }
    assert unions["IG Metall"] == {
        "name": "IG Metall",
        "acronym": "IGM",
        "country": "DE",
        "kind": "national_union",
        "parent": "",
        "national_centre": "Deutscher Gewerkschaftsbund",
        "federation": "IndustriALL Global Union",
        "sectors": "aerospace; land-systems",
        "members": "2150000",
        "website": "https://www.igmetall.de",
        "notes": "'=the biggest\nand oldest",
    }
    assert unions["IG Metall Kiel"]["parent"] == "IG Metall"
    assert unions["IG Metall Kiel"]["kind"] == "local"

    held = dict(
        zip(CONSULTATION_COLUMNS, read_back(tmp_path / f"consultations{suffix}")[1], strict=True)
    )
    assert held["date"] == "2025-03-04 14:30"  # in Berlin
    assert held["title"] == '\'=HYPERLINK("http://evil")'
    assert held["staff"] == "olga.outreach"
    assert held["topics"] in {"welding; safety", "safety; welding"}
    # People with an email by "Name <email>", those without by name.
    assert set(held["contacts"].split("; ")) == {
        "Anna Nowak <anna@example.pl>",
        "Ελένη Οικονόμου",
        "=Jens Møller <jens@metal.dk>",
    }
    late = dict(
        zip(CONSULTATION_COLUMNS, read_back(tmp_path / f"consultations{suffix}")[2], strict=True)
    )
    assert (late["date"], late["country"]) == ("2025-03-04 23:45", "US")  # UTC: several zones
    assert late["contacts"] == "'=Jens Møller <jens@metal.dk>"
    assert late["staff"] == "gone"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_it_fills_an_empty_database_with_what_it_exported(tmp_path, consultations, suffix):
    files = {kind: export(kind, tmp_path / f"{kind}{suffix}") for kind in COLUMNS}
    unions = {u.name: (u.acronym, str(u.country), u.kind) for u in Union.objects.all()}
    people = set(Contact.objects.values_list("first_name", "last_name", "email"))
    # Except the one led by someone who has left: the CRM gives them no new consultation.
    meetings = set(
        Consultation.objects.filter(lead__is_active=True).values_list(
            "title", "starts_at", "status"
        )
    )
    Consultation.objects.all().delete()
    Membership.objects.all().delete()
    Contact.objects.all().delete()
    Union.objects.filter(kind=Union.Kind.LOCAL).delete()
    Union.objects.all().delete()

    results = [
        run_import("unions", files["unions"]),
        run_import("contacts", files["contacts"]),
        run_import("consultations", files["consultations"]),
    ]

    assert [r.counts for r in results] == [
        counts(created=5),
        counts(created=3),
        counts(created=2, rejected=1),
    ]
    assert results[2].messages == [
        "Row 3, column “staff”: “gone” is no longer an active staff member."
    ]
    assert {u.name: (u.acronym, str(u.country), u.kind) for u in Union.objects.all()} == unions
    assert set(Contact.objects.values_list("first_name", "last_name", "email")) == people
    assert set(Consultation.objects.values_list("title", "starts_at", "status")) == meetings


# Formulas -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@pytest.mark.parametrize("kind", ["contacts", "unions", "consultations"])
def test_it_defuses_every_cell_a_spreadsheet_would_run(
    tmp_path, unions, outreach_staffer, kind, suffix
):
    for number, text in enumerate(FORMULAS):
        # Names and titles identify records: no tab or carriage return in those.
        name = text if text[0] in "=+-@" else f"Name {number}"
        ContactFactory.create(first_name=name, last_name=f"Person {number}", notes=text)
        UnionFactory.create(name=name, acronym="", country="FR", notes=text)
        consultation = ConsultationFactory.create(
            title=name, summary=text, city=text, lead=outreach_staffer
        )
        consultation.unions.add(unions["fiom"])

    path = export(kind, tmp_path / f"{kind}{suffix}")

    rows = read_back(path)
    cells = [cell for row in rows for cell in row]
    assert [cell for cell in cells if cell.startswith(FORMULA_STARTS)] == []
    for text in FORMULAS:
        # XML, and so XLSX, reads a carriage return as a line feed.
        written = text.replace("\r", "\n") if suffix == ".xlsx" else text
        assert "'" + written in cells
    result = run_import(kind, path)
    assert result.errors == []
    assert result.counts == counts(unchanged=len(rows) - 1)


@pytest.mark.parametrize("kind", ["contacts", "unions", "consultations"])
def test_it_keeps_notes_written_in_a_text_area_unchanged_through_xlsx(
    tmp_path, unions, outreach_staffer, kind
):
    # Browsers send a text area's lines with "\r\n"; XLSX gives them back with "\n".
    note = "First line\r\nSecond line"
    ContactFactory.create(first_name="Anna", last_name="Nowak", notes=note)
    Union.objects.filter(pk=unions["ig_metall"].pk).update(notes=note)
    consultation = ConsultationFactory.create(title="Visit", summary=note, lead=outreach_staffer)
    consultation.unions.add(unions["fiom"])
    path = export(kind, tmp_path / f"{kind}.xlsx")

    result = run_import(kind, path)

    assert result.counts["updated"] == 0
    assert result.counts["unchanged"] > 0


def test_it_refuses_other_file_types(tmp_path):
    with pytest.raises(CommandError, match=re.escape("Write to a .csv or an .xlsx file.")):
        call_command("export_unions", str(tmp_path / "unions.ods"))


# The union export page ----------------------------------------------------------------------


def test_it_downloads_unions_from_the_list_page_that_import_back_unchanged(
    tmp_path, unions, organizer_client
):
    csv_response = organizer_client.get(reverse("crm:union_export", args=["csv"]))
    xlsx_response = organizer_client.get(reverse("crm:union_export", args=["xlsx"]))
    csv_path = tmp_path / "unions.csv"
    csv_path.write_bytes(b"".join(csv_response.streaming_content))
    xlsx_path = tmp_path / "unions.xlsx"
    xlsx_path.write_bytes(xlsx_response.content)

    for path in (csv_path, xlsx_path):
        rows = read_back(path)
        assert rows[0] == list(UNION_COLUMNS)
        by_name = {row[0]: dict(zip(UNION_COLUMNS, row, strict=True)) for row in rows[1:]}
        assert by_name["IG Metall"]["notes"] == "'=the biggest\nand oldest"
        assert by_name["Federazione Impiegati Operai Metallurgici"]["acronym"] == "'@FIOM"
        result = run_import("unions", path)
        assert result.errors == []
        assert result.counts == counts(unchanged=5)


def test_it_downloads_only_the_unions_of_the_lists_filter(tmp_path, unions, organizer_client):
    response = organizer_client.get(reverse("crm:union_export", args=["csv"]), {"country": "IT"})

    rows = list(csv.reader(b"".join(response.streaming_content).decode("utf-8-sig").splitlines()))
    assert [row[0] for row in rows[1:]] == ["Federazione Impiegati Operai Metallurgici"]
