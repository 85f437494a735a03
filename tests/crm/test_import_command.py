"""`manage.py import_contacts`: the same rules as the import pages, and exit statuses to script."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from crm.importing.models import ImportJob
from crm.models import ConsentRecord, ConsentSource, Contact, Membership, Union
from tests.crm.test_importing_contacts import stored_rows, table_rows, write_csv, write_xlsx
from tests.factories import ContactFactory, UnionFactory
from tests.processes import ROOT, process_env

pytestmark = pytest.mark.django_db

PEOPLE = [
    {
        "First name": "Anna",
        "Last name": "Nowak",
        "E-mail": "anna@example.pl",
        "Phone": "601 234 567",
        "Country": "PL",
        "Union": "NSZZ Solidarność",
        "Tags": "steward; 2024",
        "Email consent": "yes",
    },
    {
        "First name": "Jan",
        "Last name": "Kowalski",
        "E-mail": "",
        "Phone": "+48 602 345 678",
        "Country": "Poland",
        "Union": "",
        "Tags": "",
        "Email consent": "",
    },
    {
        "First name": "Ewa",
        "Last name": "Wiśniewska",
        "E-mail": "",
        "Phone": "",
        "Country": "PL",
        "Union": "NSZZ Solidarność",
        "Tags": "",
        "Email consent": "no",
    },
]
BAD = {
    "First name": "Piotr",
    "Last name": "Zieliński",
    "E-mail": "piotr(at)example.pl",
    "Phone": "",
    "Country": "PL",
    "Union": "",
    "Tags": "",
    "Email consent": "",
}


def import_command(path: Path, *args: str) -> tuple[int, list[str], str]:
    """Run the command: its exit status, the lines it printed and what it wrote to stderr."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_contacts", str(path), *args, stdout=out, stderr=err)
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    return status, out.getvalue().splitlines(), err.getvalue()


@pytest.fixture
def solidarnosc(db) -> Union:
    return UnionFactory.create(name="NSZZ Solidarność", acronym="NSZZ", country="PL")


def people_file(tmp_path: Path, records: list[dict[str, Any]], name: str = "people.csv") -> Path:
    return write_csv(tmp_path / name, table_rows(records))


def test_it_imports_a_file_and_prints_the_counts_last(tmp_path, solidarnosc):
    status, lines, err = import_command(people_file(tmp_path, PEOPLE))
    assert (status, err) == (0, "")
    assert lines[-1] == "created=3 updated=0 unchanged=0 rejected=0"
    anna = Contact.objects.get(email="anna@example.pl")
    assert anna.phone == "+48601234567"
    assert sorted(anna.tags.values_list("name", flat=True)) == ["2024", "steward"]
    assert anna.email_consent_source == "import"
    assert Contact.objects.get(last_name="Kowalski").phone == "+48602345678"
    assert Membership.objects.filter(union=solidarnosc).count() == 2


def test_it_finds_everything_unchanged_when_the_same_file_is_imported_again(tmp_path, solidarnosc):
    path = people_file(tmp_path, PEOPLE)
    assert import_command(path)[0] == 0
    before = stored_rows()
    status, lines, _err = import_command(path)
    assert status == 0
    assert lines[-1] == "created=0 updated=0 unchanged=3 rejected=0"
    assert stored_rows() == before


def test_it_exits_1_when_rows_are_rejected_and_imports_the_valid_ones(tmp_path, solidarnosc):
    errors = tmp_path / "rejected.csv"
    status, lines, _err = import_command(
        people_file(tmp_path, [*PEOPLE, BAD]), "--errors", str(errors)
    )
    assert status == 1
    assert lines[-1] == "created=3 updated=0 unchanged=0 rejected=1"
    assert Contact.objects.count() == 3
    assert not Contact.objects.filter(last_name="Zieliński").exists()
    raw = errors.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark, for Excel
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows == [
        [*BAD, "error"],
        [
            *BAD.values(),
            "Row 5, column “E-mail”: “piotr(at)example.pl” is not a valid email address.",
        ],
    ]


def test_it_writes_every_rejected_row_to_the_errors_file_defused(tmp_path, solidarnosc):
    errors = tmp_path / "rejected.csv"
    records = [
        {**BAD, "First name": '=HYPERLINK("http://evil")'},
        {**BAD, "E-mail": "", "Phone": "12"},
        {**BAD, "E-mail": "", "Union": "Solidarnosc"},
        {**BAD, "E-mail": "", "First name": "", "Last name": ""},
    ]
    status, lines, _err = import_command(people_file(tmp_path, records), "--errors", str(errors))
    assert status == 1
    assert lines[-1] == "created=0 updated=0 unchanged=0 rejected=4"
    rows = list(csv.DictReader(io.StringIO(errors.read_text(encoding="utf-8-sig"))))
    assert [row["error"] for row in rows] == [
        "Row 2, column “E-mail”: “piotr(at)example.pl” is not a valid email address.",
        "Row 3, column “Phone”: “12” is not a valid phone number for Poland.",
        "Row 4, column “Union”: “Solidarnosc” is not a known union. Did you mean: "
        "NSZZ Solidarność?",
        "Row 5: a first or a last name is needed.",
    ]
    assert rows[0]["First name"] == '\'=HYPERLINK("http://evil")'
    assert Contact.objects.count() == 0


def test_it_writes_nothing_in_a_dry_run(tmp_path, solidarnosc):
    ContactFactory.create(email="anna@example.pl", first_name="Anna", last_name="Nowak")
    before = stored_rows()
    errors = tmp_path / "rejected.csv"
    path = people_file(tmp_path, [*PEOPLE, BAD, {**BAD, "E-mail": "", "Union": "New One"}])
    status, lines, _err = import_command(
        path, "--dry-run", "--create-unions", "--errors", str(errors)
    )
    assert status == 1
    assert lines[-1] == "created=3 updated=1 unchanged=0 rejected=1"
    assert "new union: New One" in lines
    assert stored_rows() == before
    assert len(list(csv.reader(errors.open(encoding="utf-8-sig")))) == 2
    job = ImportJob.objects.get()
    assert (job.dry_run, job.status, job.created) == (True, ImportJob.Status.PREVIEWED, 0)
    # The real run counts the same.
    status, lines, _err = import_command(path, "--create-unions")
    assert lines[-1] == "created=3 updated=1 unchanged=0 rejected=1"
    assert Union.objects.filter(name="New One", country="PL").exists()


def test_it_creates_missing_unions_only_when_asked(tmp_path):
    path = people_file(tmp_path, PEOPLE)
    status, lines, _err = import_command(path)
    assert status == 1
    assert lines[-1] == "created=1 updated=0 unchanged=0 rejected=2"
    status, lines, _err = import_command(path, "--create-unions")
    assert status == 0
    assert lines == [
        "new union: NSZZ Solidarność",
        "created=2 updated=0 unchanged=1 rejected=0",
    ]
    assert Union.objects.get().name == "NSZZ Solidarność"


def test_it_records_the_user_and_the_job(tmp_path, solidarnosc, organizer):
    status, _lines, _err = import_command(
        people_file(tmp_path, [*PEOPLE, BAD], name="Spring list.csv"),
        "--user",
        organizer.username,
    )
    assert status == 1
    anna = Contact.objects.get(email="anna@example.pl")
    assert (anna.created_by, anna.updated_by) == (organizer, organizer)
    version = anna.history.get()
    assert version.history_user == organizer
    job = ImportJob.objects.get()
    assert version.history_change_reason == f"Import #{job.pk} (Spring list.csv)"
    assert (job.source, job.status, job.file_name) == (
        ImportJob.Source.COMMAND,
        ImportJob.Status.DONE,
        "Spring list.csv",
    )
    assert (job.created, job.updated, job.unchanged, job.rejected) == (3, 0, 0, 1)
    assert job.created_by == organizer


def test_it_keeps_the_consent_question_with_the_answers_and_the_job(tmp_path, solidarnosc):
    question = "Paper form at the Gdańsk yard, 12 May: may we e-mail you?"
    status, _lines, _err = import_command(
        people_file(tmp_path, PEOPLE), "--consent-question", question
    )
    assert status == 0
    job = ImportJob.objects.get()
    assert job.consent_question == question
    records = ConsentRecord.objects.all()
    assert records
    assert {(r.question, r.source, r.import_job_id) for r in records} == {
        (question, ConsentSource.IMPORT, job.pk)
    }


def test_it_refuses_an_unknown_user_before_reading_anything(tmp_path, solidarnosc):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        import_command(people_file(tmp_path, PEOPLE), "--user", "nobody")
    assert Contact.objects.count() == 0


def test_it_imports_xlsx(tmp_path, solidarnosc):
    path = write_xlsx(tmp_path / "people.xlsx", table_rows(PEOPLE))
    status, lines, _err = import_command(path)
    assert (status, lines[-1]) == (0, "created=3 updated=0 unchanged=0 rejected=0")


def test_it_reports_a_nul_character_as_a_rejected_row(tmp_path, solidarnosc):
    """The job keeps the preview as JSON, which PostgreSQL refuses to hold NUL in: a message
    quoting it used to fail the run after the rows were saved."""
    errors = tmp_path / "rejected.csv"
    path = people_file(tmp_path, [PEOPLE[0], {**BAD, "E-mail": "", "First name": "Pio\x00tr"}])
    status, lines, err = import_command(path, "--errors", str(errors))
    assert (status, err) == (1, "")
    assert lines[-1] == "created=1 updated=0 unchanged=0 rejected=1"
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.DONE
    [error] = job.preview["samples"]["rejected"]
    assert error["error"] == "Row 3, column “First name”: “Pio␀tr” contains a NUL character."
    rows = list(csv.reader(errors.open(encoding="utf-8-sig")))
    assert rows[1][0] == "Pio\x00tr"


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("people.pdf", b"%PDF-1.4", "cannot be imported"),
        ("people.xlsx", b"not a zip", "cannot be read as XLSX"),
        ("people.csv", b"\n\n \n", "no header row"),
        ("people.csv", b"\xff\xfe" + "Vorname\n".encode("utf-16-le") + b"\x00\xd8", "decoded"),
        ("people.csv", b"email,phone\nanna@example.pl,+48601234567\n", "No column holds"),
    ],
)
def test_it_exits_2_for_an_unusable_file_and_writes_nothing(tmp_path, name, content, says):
    path = tmp_path / name
    path.write_bytes(content)
    errors = tmp_path / "rejected.csv"
    status, lines, err = import_command(path, "--errors", str(errors))
    assert status == 2
    assert lines[-1] == "created=0 updated=0 unchanged=0 rejected=0"
    assert says in err
    assert str(path) in err
    assert Contact.objects.count() == 0
    assert not errors.exists() or errors.read_text(encoding="utf-8-sig") == ""


def test_it_exits_2_for_a_missing_file(tmp_path):
    status, lines, err = import_command(tmp_path / "nowhere.csv")
    assert status == 2
    assert lines[-1] == "created=0 updated=0 unchanged=0 rejected=0"
    assert "nowhere.csv" in err


def test_it_exits_3_and_writes_nothing_when_the_import_fails(tmp_path, solidarnosc, monkeypatch):
    from crm.importing import bulk

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(bulk, "history_copy", broken)
    before = stored_rows()
    status, _lines, err = import_command(people_file(tmp_path, PEOPLE))
    assert status == 3
    assert "nothing was saved" in err
    assert "disk full" in err
    assert stored_rows() == before
    assert ImportJob.objects.get().status == ImportJob.Status.FAILED


@pytest.mark.services
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_exits_with_its_status_as_a_real_process(postgres, tmp_path):
    UnionFactory.create(name="NSZZ Solidarność", country="PL")
    good = people_file(tmp_path, PEOPLE, name="good.csv")
    bad = people_file(tmp_path, [PEOPLE[0], BAD], name="bad.csv")
    nameless = write_csv(tmp_path / "nameless.csv", [["email"], ["x@example.org"]])

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", "import_contacts", *args],
            cwd=ROOT,
            env=process_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    result = manage(str(good), "--dry-run")
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        0,
        "created=3 updated=0 unchanged=0 rejected=0",
    )
    assert Contact.objects.count() == 0
    result = manage(str(good))
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        0,
        "created=3 updated=0 unchanged=0 rejected=0",
    )
    result = manage(str(bad), "--errors", str(tmp_path / "errors.csv"))
    assert (result.returncode, result.stdout.splitlines()[-1]) == (
        1,
        "created=0 updated=0 unchanged=1 rejected=1",
    )
    assert "piotr(at)example.pl" in (tmp_path / "errors.csv").read_text(encoding="utf-8-sig")
    result = manage(str(nameless))
    assert result.returncode == 2
    assert "No column holds" in result.stderr
    assert Contact.objects.count() == 3
