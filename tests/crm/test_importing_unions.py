"""The union importer: the same preview, rules and error file as contacts, for unions."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from openpyxl import Workbook

from crm import services
from crm.importing.contacts import Summary
from crm.importing.files import read_table
from crm.importing.headers import detect_mapping
from crm.importing.models import ImportJob
from crm.importing.services import records_import
from crm.models import Union
from tests.factories import UnionFactory

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "crm" / "data" / "unions_sample.csv"


# Helpers (the consultation and export tests use them too) ----------------------------------


@dataclass
class Result:
    summary: Summary
    errors: list[dict[str, str]]  # the error file, read back

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


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def run_import(
    kind: str,
    path: Path,
    *,
    dry_run: bool = False,
    create_unions: bool = False,
    user: Any = None,
) -> Result:
    table = read_table(path)
    errors = io.StringIO()
    summary = records_import(
        kind=kind,
        table=table,
        mapping=detect_mapping(table.headers, kind),
        dry_run=dry_run,
        create_unions=create_unions,
        user_id=user.pk if user else None,
        reason="test",
        errors_to=errors,
    )
    return Result(summary=summary, errors=list(csv.DictReader(io.StringIO(errors.getvalue()))))


def command(name: str, *args: str) -> tuple[int, list[str], str]:
    """Run a management command: its exit status, the lines it printed, and its stderr."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    return status, out.getvalue().splitlines(), err.getvalue()


def import_unions(tmp_path: Path, records: list[dict[str, Any]], **options: Any) -> Result:
    return run_import("unions", write_csv(tmp_path / "unions.csv", table_rows(records)), **options)


def union(name: str, country: str = "") -> Union:
    return Union.objects.get(name=name, country=country)


def affiliation_names(of: Union) -> set[str]:
    return {a.name for a in of.affiliations.all()}


def sector_slugs(of: Union) -> set[str]:
    return set(of.sectors.values_list("slug", flat=True))


@pytest.fixture
def dgb(db) -> Union:
    return UnionFactory.create(
        name="DGB", acronym="", country="DE", kind=Union.Kind.NATIONAL_CENTRE
    )


@pytest.fixture
def industriall(db) -> Union:
    return UnionFactory.create(
        name="IndustriALL Global Union",
        acronym="IndustriALL",
        country="",
        kind=Union.Kind.GLOBAL_FEDERATION,
    )


@pytest.fixture
def ig_metall(db) -> Union:
    return UnionFactory.create(name="IG Metall", acronym="IGM", country="DE")


# The sample file ----------------------------------------------------------------------------


def test_it_loads_the_sample_file_creating_its_national_centres_and_federations(organizer):
    result = run_import("unions", SAMPLE, create_unions=True, user=organizer)

    assert result.counts == counts(created=28)
    assert result.errors == []
    assert Union.objects.filter(kind=Union.Kind.NATIONAL_UNION).count() == 27
    industriall = union("IndustriALL Global Union")
    assert industriall.kind == Union.Kind.GLOBAL_FEDERATION
    afl_cio = union("AFL-CIO", "US")
    assert afl_cio.kind == Union.Kind.NATIONAL_CENTRE
    assert union("DGB", "DE").kind == Union.Kind.NATIONAL_CENTRE
    # Each centre and federation once, however many rows name it.
    assert Union.objects.filter(name="IndustriALL Global Union").count() == 1
    assert Union.objects.filter(name="TUC").count() == 1
    assert "IndustriALL Global Union" in result.summary.created_unions
    assert "AFL-CIO" in result.summary.created_unions

    lodge = union("IAM District Lodge 751", "US")
    assert lodge.kind == Union.Kind.LOCAL
    assert lodge.acronym == "IAM 751"
    assert lodge.parent == union(
        "International Association of Machinists and Aerospace Workers", "US"
    )
    assert affiliation_names(lodge) == {"AFL-CIO"}
    assert sector_slugs(lodge) == {"aerospace"}

    ig = union("IG Metall", "DE")
    assert ig.acronym == "IGM"
    assert ig.kind == Union.Kind.NATIONAL_UNION
    assert affiliation_names(ig) == {"DGB", "IndustriALL Global Union"}
    assert sector_slugs(ig) == {"aerospace", "land-systems", "shipbuilding", "electronics"}
    assert union("Sekretariat Metalowców NSZZ Solidarność", "PL").acronym == (
        "Solidarność Metalowcy"
    )
    assert ig.created_by == organizer
    assert ig.history.first().history_user == organizer


def test_it_rejects_the_sample_rows_naming_unknown_centres_without_create_unions():
    result = run_import("unions", SAMPLE)

    assert result.counts == counts(rejected=28)
    assert not Union.objects.exists()
    by_name = {row["name"]: row["error"] for row in result.errors}
    assert by_name["IG Metall"] == (
        "Row 7, column “national_centre”: “DGB” is not a known union; add it first or choose "
        "“create missing unions”."
    )
    # The lodge's parent was rejected, so the lodge names an unknown union too.
    assert by_name["IAM District Lodge 751"] == (
        "Row 3, column “parent”: “International Association of Machinists and Aerospace "
        "Workers” is not a known union; add it first or choose “create missing unions”."
    )


def test_it_imports_the_rows_whose_centres_exist_and_suggests_close_names(dgb, industriall):
    UnionFactory.create(name="TUC", acronym="", country="GB", kind=Union.Kind.NATIONAL_CENTRE)

    result = run_import("unions", SAMPLE)

    assert result.counts == counts(created=3, rejected=25)
    assert {u.name for u in Union.objects.filter(kind=Union.Kind.NATIONAL_UNION)} == {
        "IG Metall",
        "Unite the Union",
        "GMB",
    }
    by_name = {row["name"]: row["error"] for row in result.errors}
    assert by_name["Dansk Metal"] == (
        "Row 22, column “national_centre”: “FH” is not a known union; add it first or choose "
        "“create missing unions”."
    )


def test_it_changes_nothing_when_the_sample_file_is_imported_again(organizer):
    run_import("unions", SAMPLE, create_unions=True, user=organizer)
    before = Union.objects.count()

    again = run_import("unions", SAMPLE, create_unions=True, user=organizer)

    assert again.counts == counts(unchanged=28)
    assert again.summary.created_unions == []
    assert Union.objects.count() == before


def test_it_runs_as_a_command_with_its_exit_status_and_error_file(tmp_path, organizer):
    errors = tmp_path / "errors.csv"

    status, lines, _err = command(
        "import_unions", str(SAMPLE), "--errors", str(errors), "--user", organizer.username
    )

    assert status == 1
    assert lines[-1] == "created=0 updated=0 unchanged=0 rejected=28"
    with errors.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 28
    assert rows[0]["name"] == "International Association of Machinists and Aerospace Workers"
    assert rows[0]["error"].startswith("Row 2, column “national_centre”: “AFL-CIO”")

    status, lines, _err = command(
        "import_unions", str(SAMPLE), "--create-unions", "--user", organizer.username
    )

    assert status == 0
    assert "new union: AFL-CIO" in lines
    assert lines[-1] == "created=28 updated=0 unchanged=0 rejected=0"
    job = ImportJob.objects.filter(dry_run=False).latest("pk")
    assert (job.kind, job.source, job.created_by, job.created) == (
        "unions",
        "command",
        organizer,
        28,
    )

    status, lines, _err = command("import_unions", str(SAMPLE), "--create-unions")
    assert (status, lines[-1]) == (0, "created=0 updated=0 unchanged=28 rejected=0")


def test_it_previews_with_dry_run_and_writes_nothing_not_even_the_missing_unions(tmp_path):
    status, lines, _err = command("import_unions", str(SAMPLE), "--create-unions", "--dry-run")

    assert status == 0
    assert lines[-1] == "created=28 updated=0 unchanged=0 rejected=0"
    assert not Union.objects.exists()
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.PREVIEWED
    assert job.created == 0
    assert job.preview["counts"]["created"] == 28


def test_it_refuses_a_file_without_a_name_column(tmp_path):
    path = write_csv(tmp_path / "u.csv", [["acronym", "country"], ["IGM", "DE"]])

    status, lines, err = command("import_unions", str(path))

    assert status == 2
    assert "No column holds name" in err
    assert lines[-1] == "created=0 updated=0 unchanged=0 rejected=0"


# Columns ------------------------------------------------------------------------------------


def test_it_reads_every_column(tmp_path, dgb, industriall):
    result = import_unions(
        tmp_path,
        [
            {
                "Union name": "IG Metall",
                "Abbreviation": "IGM",
                "Land": "Germany",
                "Type": "national union",
                "National centre": "DGB",
                "Global union federation": "IndustriALL",
                "Sector": "Aerospace; land systems, shipbuilding",
                "Membership": "2 150 000",
                "Web": "www.igmetall.de",
                "Comments": "=the biggest",
            }
        ],
    )

    assert result.counts == counts(created=1)
    ig = union("IG Metall", "DE")
    assert ig.acronym == "IGM"
    assert ig.kind == Union.Kind.NATIONAL_UNION
    assert ig.membership_size == 2_150_000
    assert ig.website == "https://www.igmetall.de"
    assert ig.notes == "=the biggest"
    assert affiliation_names(ig) == {"DGB", "IndustriALL Global Union"}
    assert sector_slugs(ig) == {"aerospace", "land-systems", "shipbuilding"}


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("global_federation", Union.Kind.GLOBAL_FEDERATION),
        ("Global union federation", Union.Kind.GLOBAL_FEDERATION),
        ("federation", Union.Kind.GLOBAL_FEDERATION),
        ("National Centre", Union.Kind.NATIONAL_CENTRE),
        ("confederation", Union.Kind.NATIONAL_CENTRE),
        ("center", Union.Kind.NATIONAL_CENTRE),
        ("NATIONAL_UNION", Union.Kind.NATIONAL_UNION),
        ("union", Union.Kind.NATIONAL_UNION),
    ],
)
def test_it_reads_the_kind_by_code_label_or_common_word(tmp_path, value, kind):
    import_unions(tmp_path, [{"name": "Some Union", "country": "FR", "kind": value}])

    assert union("Some Union", "FR").kind == kind


@pytest.mark.parametrize(
    ("value", "members"),
    [("12000", 12_000), ("12 000", 12_000), ("12,000", 12_000), ("1.200.000", 1_200_000)],
)
def test_it_reads_members_written_with_thousands_separators(tmp_path, value, members):
    import_unions(tmp_path, [{"name": "Some Union", "country": "FR", "members": value}])

    assert union("Some Union", "FR").membership_size == members


def test_it_reads_members_from_number_cells_and_from_decimals_programs_write(tmp_path):
    xlsx = write_xlsx(tmp_path / "u.xlsx", [["name", "country", "members"], ["A", "FR", 12000]])
    # pandas writes an integer column with gaps as decimals: "12000.0" is 12,000, not 120,000.
    text = write_csv(tmp_path / "u.csv", [["name", "country", "members"], ["B", "FR", "12000.0"]])

    assert run_import("unions", xlsx).counts == counts(created=1)
    assert run_import("unions", text).counts == counts(created=1)

    assert union("A", "FR").membership_size == 12_000
    assert union("B", "FR").membership_size == 12_000


def test_it_defaults_the_kind_from_parent_and_country(tmp_path, ig_metall):
    import_unions(
        tmp_path,
        [
            {"name": "Global One", "country": "", "parent": ""},
            {"name": "National One", "country": "DE", "parent": ""},
            {"name": "IGM Berlin", "country": "DE", "parent": "IG Metall"},
        ],
    )

    assert union("Global One").kind == Union.Kind.GLOBAL_FEDERATION
    assert union("National One", "DE").kind == Union.Kind.NATIONAL_UNION
    assert union("IGM Berlin", "DE").kind == Union.Kind.LOCAL
    assert union("IGM Berlin", "DE").parent == ig_metall


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("name", "N" * 201, "is 201 characters long; at most 200 fit."),
        ("acronym", "A" * 51, "is 51 characters long; at most 50 fit."),
        (
            "country",
            "Atlantis",
            "“Atlantis” is not a country: use its ISO code (DE) or English name (Germany).",
        ),
        (
            "kind",
            "guild",
            "“guild” is not a kind of union; use one of: global_federation, national_centre, "
            "national_union, local.",
        ),
        ("members", "many", "“many” is not a number of members."),
        ("members", "-5", "“-5” is not a number of members."),
        ("members", "1234567890", "“1234567890” is not a number of members."),
        ("members", "1.5", "“1.5” is not a number of members."),
        ("members", "12,00", "“12,00” is not a number of members."),
        ("website", "not a site", "“not a site” is not a web address."),
        ("website", "ftp://example.org", "“ftp://example.org” is not a web address."),
        (
            "sectors",
            "aerospace; baking",
            "“baking” is not a sector; use one of: aerospace, electronics, land-systems, "
            "materials, munitions, other, shipbuilding.",
        ),
        ("notes", "a\x00b", "contains a NUL character."),
    ],
)
def test_it_rejects_a_bad_cell_naming_row_column_and_value(tmp_path, header, value, message):
    row = {"name": "Some Union", "country": "FR", header: value}

    result = import_unions(tmp_path, [{"name": "Fine Union", "country": "FR"}, row])

    assert result.counts == counts(created=1, rejected=1)
    assert result.messages[0].startswith(f"Row 3, column “{header}”: ")
    assert result.messages[0].endswith(message)
    assert Union.objects.get().name == "Fine Union"
    # The error file repeats the row as it was, with the message in an added column.
    assert result.errors[0]["name"] == row["name"]


def test_it_defuses_formulas_in_the_error_file(tmp_path):
    result = import_unions(
        tmp_path, [{"name": "=cmd|'/c calc'!A1", "country": "FR", "members": "@many"}]
    )

    assert result.errors[0]["name"] == "'=cmd|'/c calc'!A1"
    assert result.errors[0]["members"] == "'@many"
    assert result.messages == ["Row 2, column “members”: “@many” is not a number of members."]


def test_it_reports_every_bad_cell_of_a_row(tmp_path):
    result = import_unions(
        tmp_path, [{"name": "Some Union", "country": "Atlantis", "members": "lots"}]
    )

    assert result.messages == [
        "Row 2, column “country”: “Atlantis” is not a country: use its ISO code (DE) or English "
        "name (Germany).; Row 2, column “members”: “lots” is not a number of members."
    ]


def test_it_rejects_a_row_without_a_name(tmp_path):
    result = import_unions(tmp_path, [{"name": "", "country": "FR", "acronym": "X"}])

    assert result.messages == ["Row 2, column “name”: a union needs a name."]


def test_it_rejects_an_unknown_parent_with_suggestions(tmp_path, ig_metall):
    result = import_unions(
        tmp_path, [{"name": "IGM Berlin", "country": "DE", "parent": "IG Metal"}]
    )

    assert result.messages == [
        "Row 2, column “parent”: “IG Metal” is not a known union. Did you mean: IG Metall?"
    ]
    assert not Union.objects.filter(name="IGM Berlin").exists()


def test_it_rejects_what_the_union_rules_refuse_naming_the_column_and_value(
    tmp_path, dgb, ig_metall
):
    result = import_unions(
        tmp_path,
        [
            {"name": "DGB Berlin", "country": "DE", "kind": "", "parent": "DGB"},
            {"name": "Lost Local", "country": "DE", "kind": "local", "parent": ""},
            {"name": "IGM Wolfsburg", "country": "DE", "kind": "", "parent": "IGM"},
        ],
    )

    assert result.counts == counts(created=1, rejected=2)
    # Rows without a parent are saved (and rejected) first: sorted for the comparison.
    assert sorted(result.messages) == [
        "Row 2, column “parent”: “DGB”: A local's parent must be a national union.",
        "Row 3, column “parent”: A local must belong to a national union.",
    ]
    assert union("IGM Wolfsburg", "DE").parent == ig_metall


def test_it_rejects_an_affiliation_to_a_union_that_is_no_centre(tmp_path, ig_metall):
    result = import_unions(
        tmp_path, [{"name": "Ver.di", "country": "DE", "national_centre": "IG Metall"}]
    )

    assert result.messages == [
        "Row 2, column “national_centre”: “IG Metall” is a national union: a union is "
        "affiliated only to global federations and national centres."
    ]


# Matching and updating ----------------------------------------------------------------------


def test_it_matches_a_union_by_name_and_country_ignoring_case_and_accents(tmp_path):
    existing = UnionFactory.create(
        name="Fédération des travailleurs de la métallurgie", acronym="FTM-CGT", country="FR"
    )
    UnionFactory.create(
        name="Fédération des travailleurs de la métallurgie", acronym="", country="BE"
    )

    result = import_unions(
        tmp_path,
        [
            {
                "name": "FEDERATION DES TRAVAILLEURS DE LA METALLURGIE",
                "country": "FR",
                "members": "60000",
            }
        ],
    )

    assert result.counts == counts(updated=1)
    assert Union.objects.count() == 2
    existing.refresh_from_db()
    assert existing.membership_size == 60_000
    # The name is the file's: a filled cell replaces what is stored.
    assert existing.name == "FEDERATION DES TRAVAILLEURS DE LA METALLURGIE"


def test_it_creates_a_union_of_the_same_name_in_another_country(tmp_path, ig_metall):
    result = import_unions(tmp_path, [{"name": "IG Metall", "country": "AT"}])

    assert result.counts == counts(created=1)
    assert set(Union.objects.values_list("country", flat=True)) == {"DE", "AT"}


def test_it_asks_for_the_country_when_the_name_is_in_several(tmp_path, ig_metall):
    UnionFactory.create(name="IG Metall", country="AT")

    result = import_unions(tmp_path, [{"name": "ig metall", "country": "", "acronym": "X"}])

    assert result.messages == [
        "Row 2, column “name”: Several unions are called “ig metall”: add the country."
    ]


def test_it_matches_by_name_alone_when_the_row_has_no_country(tmp_path, ig_metall):
    result = import_unions(tmp_path, [{"name": "ig metall", "country": "", "members": "5"}])

    assert result.counts == counts(updated=1)
    ig_metall.refresh_from_db()
    assert ig_metall.membership_size == 5


def test_it_replaces_with_filled_cells_and_never_erases_with_blank_ones(tmp_path, ig_metall):
    Union.objects.filter(pk=ig_metall.pk).update(
        membership_size=2_000_000, website="https://igmetall.de", notes="keep me"
    )

    result = import_unions(
        tmp_path,
        [
            {
                "name": "IG Metall",
                "acronym": "IG M",
                "country": "DE",
                "kind": "",
                "members": "",
                "website": "",
                "notes": "",
            }
        ],
    )

    assert result.counts == counts(updated=1)
    assert result.summary.samples["updated"][0].changes == [("acronym", "IGM", "IG M")]
    ig_metall.refresh_from_db()
    assert ig_metall.acronym == "IG M"
    assert (ig_metall.membership_size, ig_metall.website, ig_metall.notes) == (
        2_000_000,
        "https://igmetall.de",
        "keep me",
    )
    assert ig_metall.kind == Union.Kind.NATIONAL_UNION


def test_it_adds_affiliations_and_sectors_and_never_removes_them(
    tmp_path, ig_metall, dgb, industriall
):
    ig_metall.affiliations.add(dgb)
    ig_metall.sectors.add("aerospace")

    result = import_unions(
        tmp_path,
        [
            {
                "name": "IG Metall",
                "country": "DE",
                "federation": "IndustriALL Global Union",
                "sectors": "munitions",
            }
        ],
    )

    assert result.counts == counts(updated=1)
    assert affiliation_names(ig_metall) == {"DGB", "IndustriALL Global Union"}
    assert sector_slugs(ig_metall) == {"aerospace", "munitions"}

    again = import_unions(
        tmp_path, [{"name": "IG Metall", "country": "DE", "federation": "", "sectors": "aerospace"}]
    )

    assert again.counts == counts(unchanged=1)
    assert affiliation_names(ig_metall) == {"DGB", "IndustriALL Global Union"}
    assert sector_slugs(ig_metall) == {"aerospace", "munitions"}


def test_it_saves_parents_listed_after_their_locals(tmp_path):
    result = import_unions(
        tmp_path,
        [
            {"name": "IGM Berlin", "country": "DE", "parent": "IG Metall"},
            {"name": "IGM Hamburg", "country": "DE", "parent": "IGM"},
            {"name": "IG Metall", "acronym": "IGM", "country": "DE", "parent": ""},
        ],
    )

    assert result.counts == counts(created=3)
    ig = union("IG Metall", "DE")
    assert {local.name for local in ig.locals.all()} == {"IGM Berlin", "IGM Hamburg"}


def test_it_reports_rows_in_the_files_numbering_whatever_order_they_are_saved_in(tmp_path):
    result = import_unions(
        tmp_path,
        [
            {"name": "IGM Berlin", "country": "DE", "parent": "Nobody"},
            {"name": "IG Metall", "country": "DE", "parent": ""},
        ],
    )

    assert result.counts == counts(created=1, rejected=1)
    assert result.messages[0].startswith("Row 2, column “parent”: “Nobody”")


# Creating missing unions ---------------------------------------------------------------------


def test_it_creates_missing_centres_federations_and_parents_when_asked(tmp_path, organizer):
    result = import_unions(
        tmp_path,
        [
            {
                "name": "IGM Berlin",
                "country": "DE",
                "parent": "IG Metall",
                "national_centre": "DGB",
                "federation": "IndustriALL",
            }
        ],
        create_unions=True,
        user=organizer,
    )

    assert result.counts == counts(created=1)
    assert sorted(result.summary.created_unions) == ["DGB", "IG Metall", "IndustriALL"]
    assert union("IG Metall", "DE").kind == Union.Kind.NATIONAL_UNION
    assert union("DGB", "DE").kind == Union.Kind.NATIONAL_CENTRE
    assert union("IndustriALL").kind == Union.Kind.GLOBAL_FEDERATION
    assert union("IndustriALL").created_by == organizer
    assert union("IGM Berlin", "DE").parent == union("IG Metall", "DE")


def test_it_needs_a_country_to_create_a_missing_centre(tmp_path):
    result = import_unions(
        tmp_path,
        [{"name": "Global One", "country": "", "national_centre": "Nowhere Centre"}],
        create_unions=True,
    )

    assert result.messages == [
        "Row 2, column “national_centre”: “Nowhere Centre” is not a known union: give the row's "
        "country so it can be created."
    ]
    assert not Union.objects.exists()


def test_it_keeps_no_created_union_of_a_rejected_row_and_can_create_it_again(tmp_path):
    # The first row creates "DGB" and is then refused (a local without a parent): its savepoint
    # takes DGB away, and the next row naming DGB must create it again, not point at nothing.
    result = import_unions(
        tmp_path,
        [
            {"name": "Lost Local", "country": "DE", "kind": "local", "national_centre": "DGB"},
            {"name": "IG Metall", "country": "DE", "kind": "", "national_centre": "DGB"},
        ],
        create_unions=True,
    )

    assert result.counts == counts(created=1, rejected=1)
    assert result.summary.created_unions == ["DGB"]
    assert affiliation_names(union("IG Metall", "DE")) == {"DGB"}
    assert Union.objects.filter(name="DGB").count() == 1


# Transactions -------------------------------------------------------------------------------


def test_it_writes_nothing_in_a_dry_run(tmp_path, ig_metall):
    result = import_unions(
        tmp_path,
        [
            {"name": "IG Metall", "country": "DE", "members": "7", "national_centre": "DGB"},
            {"name": "New Union", "country": "DE", "federation": "New Federation"},
        ],
        dry_run=True,
        create_unions=True,
    )

    assert result.counts == counts(created=1, updated=1)
    assert sorted(result.summary.created_unions) == ["DGB", "New Federation"]
    assert list(Union.objects.all()) == [ig_metall]
    ig_metall.refresh_from_db()
    assert ig_metall.membership_size is None
    assert not ig_metall.affiliations.exists()


def test_it_writes_nothing_when_the_import_fails_midway(tmp_path, monkeypatch):
    calls = []
    real_create = services.union_create

    def failing_create(**kwargs: Any) -> Union:
        calls.append(kwargs)
        if len(calls) == 3:
            raise RuntimeError("database gone")
        return real_create(**kwargs)

    monkeypatch.setattr(services, "union_create", failing_create)
    rows = [{"name": f"Union {n}", "country": "DE", "national_centre": "DGB"} for n in range(1, 5)]

    with pytest.raises(RuntimeError, match="database gone"):
        import_unions(tmp_path, rows, create_unions=True)

    assert len(calls) == 3
    assert not Union.objects.exists()

    calls.clear()
    status, _lines, err = command("import_unions", str(tmp_path / "unions.csv"), "--create-unions")
    assert status == 3
    assert "nothing was saved" in err
    assert not Union.objects.exists()
    assert ImportJob.objects.get().status == ImportJob.Status.FAILED


def test_it_reports_rejected_rows_in_the_files_order(tmp_path):
    from crm.importing.files import read_table
    from crm.importing.headers import detect_mapping
    from crm.importing.services import records_import

    path = tmp_path / "unions.csv"
    path.write_text(
        "name,country,parent,members\n"
        "Local A,DE,No Such Union,\n"  # saved last (it has a parent), rejected
        "Bad Members,DE,,many\n"  # rejected while reading
        "Fine Union,DE,,\n"
        "Local B,DE,Fine Union,lots\n",  # rejected while reading
        encoding="utf-8",
    )
    table = read_table(path)
    seen: list[int] = []
    summary = records_import(
        kind="unions",
        table=table,
        mapping=detect_mapping(table.headers, "unions"),
        dry_run=True,
        on_rejected=lambda line, message: seen.append(line.number),
    )
    assert seen == [2, 3, 5]
    assert [sample.number for sample in summary.samples["rejected"]] == [2, 3, 5]
