"""The importer of historical consultations: the same preview, rules and error file as contacts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError

from crm.importing.models import ImportJob
from crm.models import Contact, Union
from outreach import importing as importing_module
from outreach.models import Attendance, Consultation, FollowUp
from tests.crm.test_importing_unions import (
    Result,
    command,
    counts,
    run_import,
    table_rows,
    write_csv,
    write_xlsx,
)
from tests.factories import ConsultationFactory, ContactFactory, UnionFactory, UserFactory

pytestmark = pytest.mark.django_db


def import_consultations(tmp_path: Path, records: list[dict[str, Any]], **options: Any) -> Result:
    path = write_csv(tmp_path / "consultations.csv", table_rows(records))
    return run_import("consultations", path, **options)


def row(**cells: str) -> dict[str, str]:
    """A consultation with what every row needs, and `cells` on top."""
    return {
        "date": "2025-03-04",
        "title": "Welding courses",
        "country": "DE",
        "unions": "IG Metall",
        "staff": "olga.outreach",
        **cells,
    }


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


@pytest.fixture
def ig_metall(db) -> Union:
    return UnionFactory.create(name="IG Metall", acronym="IGM", country="DE")


@pytest.fixture
def olga(outreach_staffer):
    return outreach_staffer


# Columns ------------------------------------------------------------------------------------


def test_it_imports_a_consultation_with_every_column(tmp_path, ig_metall, olga):
    known = ContactFactory.create(first_name="Jürgen", last_name="Weber", email="jw@igm.de")
    result = import_consultations(
        tmp_path,
        [
            {
                "When": "04.03.2025 14:30",
                "Subject": "Welding courses",
                "Type": "Site visit",
                "Status": "held",
                "Country": "Germany",
                "Place": "Kiel",
                "Union": "IGM",
                "Attendees": "JW@igm.de; Anna Nowak <anna@example.pl>",
                "Topics": "welding; Occupational safety (ISO 45001)",
                "Concerns": "wages",
                "Position": "Conditional support",
                "Notes": "=They asked for more",
                "Lead": "olga.outreach",
            }
        ],
    )

    assert result.counts == counts(created=1)
    consultation = Consultation.objects.get()
    assert consultation.title == "Welding courses"
    assert consultation.starts_at == utc(2025, 3, 4, 13, 30)  # 14:30 in Berlin
    assert consultation.format == Consultation.Format.SITE_VISIT
    assert consultation.status == Consultation.Status.HELD
    assert (str(consultation.country), consultation.city) == ("DE", "Kiel")
    assert list(consultation.unions.all()) == [ig_metall]
    assert set(consultation.topics.values_list("slug", flat=True)) == {"welding", "safety"}
    assert list(consultation.concerns.values_list("slug", flat=True)) == ["wages"]
    assert consultation.position == Consultation.Position.CONDITIONAL
    assert consultation.summary == "=They asked for more"
    assert consultation.lead == olga
    assert consultation.updated_by == olga
    new_person = Contact.objects.get(email="anna@example.pl")
    assert (new_person.first_name, new_person.last_name) == ("Anna", "Nowak")
    assert str(new_person.country) == "DE"
    assert dict(consultation.attendances.values_list("contact", "role")) == {
        known.pk: Attendance.Role.PARTICIPANT,
        new_person.pk: Attendance.Role.PARTICIPANT,
    }
    # History, not the present, is imported: nobody gets a follow-up for it.
    assert not FollowUp.objects.exists()


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("date", "yesterday", "“yesterday” is not a date; write it as YYYY-MM-DD (2025-03-04)."),
        ("date", "2025-13-45", "“2025-13-45” is not a date; write it as YYYY-MM-DD (2025-03-04)."),
        ("date", "04.03.2025 25:99", "“04.03.2025 25:99” has a time that cannot be read."),
        ("title", "T" * 201, "is 201 characters long; at most 200 fit."),
        (
            "format",
            "dinner",
            "“dinner” is not a format; use one of: in_person, site_visit, video, phone, "
            "conference, email.",
        ),
        ("status", "maybe", "“maybe” is not a status; use one of: planned, held, cancelled."),
        (
            "country",
            "Atlantis",
            "“Atlantis” is not a country: use its ISO code (DE) or English name (Germany).",
        ),
        ("city", "C" * 101, "is 101 characters long; at most 100 fit."),
        ("unions", "IG Metal", "“IG Metal” is not a known union. Did you mean: IG Metall?"),
        ("contacts", "Anna <anna(at)example.pl>", "“anna(at)example.pl” is not a valid email"),
        ("topics", "welding; knitting", "“knitting” is not a known topic."),
        ("concerns", "boredom", "“boredom” is not a known concern."),
        (
            "position",
            "lukewarm",
            "“lukewarm” is not a position; use one of: strong_support, support, "
            "conditional_support, neutral, opposed, not_discussed.",
        ),
        ("summary", "a\x00b", "contains a NUL character."),
        ("staff", "nobody", "“nobody” is not a staff member's username or email."),
    ],
)
def test_it_rejects_a_bad_cell_naming_row_column_and_value(
    tmp_path, ig_metall, olga, header, value, message
):
    result = import_consultations(tmp_path, [row(title="Fine"), row(**{header: value})])

    assert result.counts == counts(created=1, rejected=1)
    assert result.messages[0].startswith(f"Row 3, column “{header}”: ")
    assert message in result.messages[0]
    assert list(Consultation.objects.values_list("title", flat=True)) == ["Fine"]
    assert result.errors[0][header] == value


def test_it_rejects_a_row_without_a_date(tmp_path, ig_metall, olga):
    result = import_consultations(tmp_path, [row(date="")])

    assert result.messages == ["Row 2, column “date”: a consultation needs a date."]


def test_it_rejects_a_row_without_a_title_which_a_second_import_could_not_find(
    tmp_path, ig_metall, olga
):
    records = [row(title="")]

    first = import_consultations(tmp_path, records)
    again = import_consultations(tmp_path, records)

    assert (
        first.messages == again.messages == ["Row 2, column “title”: a consultation needs a title."]
    )
    assert not Consultation.objects.exists()


def test_it_rejects_a_row_with_neither_union_nor_person(tmp_path, olga):
    result = import_consultations(tmp_path, [row(unions="", contacts="")])

    assert result.counts == counts(rejected=1)
    assert result.messages[0].startswith(
        "Row 2, column “unions”: Add at least one union or one person who attended."
    )


def test_it_refuses_a_file_without_a_title_column(tmp_path):
    path = write_csv(tmp_path / "c.csv", [["date", "unions"], ["2025-03-04", "IGM"]])

    status, lines, err = command("import_consultations", str(path))

    assert status == 2
    assert "No column holds title" in err
    assert lines[-1] == "created=0 updated=0 unchanged=0 rejected=0"


# Dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "country", "starts_at"),
    [
        # A date alone is noon in the country's time zone.
        ("2025-03-04", "DE", utc(2025, 3, 4, 11, 0)),
        ("2025-07-01", "DE", utc(2025, 7, 1, 10, 0)),
        ("2025-03-04", "JP", utc(2025, 3, 4, 3, 0)),
        # The United States have several: UTC.
        ("2025-03-04", "US", utc(2025, 3, 4, 12, 0)),
        ("2025-03-04", "", utc(2025, 3, 4, 12, 0)),
        ("04.03.2025 14:30", "DE", utc(2025, 3, 4, 13, 30)),
        ("04/03/2025", "DE", utc(2025, 3, 4, 11, 0)),
        ("2025/03/04 08:15:00", "GB", utc(2025, 3, 4, 8, 15)),
        ("2025-03-04T09:00", "FI", utc(2025, 3, 4, 7, 0)),
    ],
)
def test_it_reads_dates_and_times_in_the_countrys_time_zone(
    tmp_path, olga, value, country, starts_at
):
    result = import_consultations(
        tmp_path, [row(date=value, country=country, unions="", contacts="A B <a@example.org>")]
    )

    assert result.errors == []
    assert Consultation.objects.get().starts_at == starts_at


def test_it_reads_date_and_datetime_cells_of_a_spreadsheet(tmp_path, ig_metall, olga):
    path = write_xlsx(
        tmp_path / "c.xlsx",
        [
            ["date", "title", "country", "unions", "staff"],
            [datetime(2025, 3, 4, 14, 30), "With a time", "DE", "IGM", "olga.outreach"],
            [datetime(2025, 3, 5), "A date alone", "DE", "IGM", "olga.outreach"],
        ],
    )

    result = run_import("consultations", path)

    assert result.counts == counts(created=2)
    assert dict(Consultation.objects.values_list("title", "starts_at")) == {
        "With a time": utc(2025, 3, 4, 13, 30),
        "A date alone": utc(2025, 3, 5, 11, 0),
    }


def test_it_plans_consultations_in_the_future_and_holds_those_in_the_past(
    tmp_path, ig_metall, olga
):
    result = import_consultations(
        tmp_path,
        [
            row(title="Next year", date="2099-05-06"),
            row(title="Last year", date="2020-05-06"),
            row(title="Called off", date="2020-05-07", status="cancelled"),
            row(title="Impossible", date="2099-05-07", status="held"),
        ],
    )

    assert result.counts == counts(created=3, rejected=1)
    assert dict(Consultation.objects.values_list("title", "status")) == {
        "Next year": Consultation.Status.PLANNED,
        "Last year": Consultation.Status.HELD,
        "Called off": Consultation.Status.CANCELLED,
    }
    assert result.messages == [
        "Row 5, column “date”: “2099-05-07”: A consultation in the future can only be planned: "
        "set its status to planned."
    ]


# Attendees ----------------------------------------------------------------------------------


def test_it_finds_attendees_by_email_and_by_exact_full_name(tmp_path, olga):
    by_email = ContactFactory.create(first_name="Anna", last_name="Nowak", email="anna@x.pl")
    by_name = ContactFactory.create(first_name="Łucja", last_name="Wiśniewska", email="")
    ContactFactory.create(first_name="Łucja", last_name="Wiśniewska-Kowalska", email="")

    result = import_consultations(
        tmp_path,
        [row(unions="", contacts="Someone Else <ANNA@x.pl>; łucja wiśniewska")],
    )

    assert result.counts == counts(created=1)
    consultation = Consultation.objects.get()
    assert set(consultation.attendees.all()) == {by_email, by_name}
    assert Contact.objects.count() == 3


def test_it_finds_a_person_by_name_among_many_whose_names_start_alike(tmp_path, olga):
    for number in range(6):
        ContactFactory.create(first_name="Anna", last_name=f"Nowakowska {number}", email="")
    anna = ContactFactory.create(first_name="Anna", last_name="Nowak", email="anna@x.pl")

    result = import_consultations(tmp_path, [row(unions="", contacts="Anna Nowak")])

    assert result.errors == []
    assert list(Consultation.objects.get().attendees.all()) == [anna]


def test_it_adds_new_people_written_as_name_and_email(tmp_path, olga):
    result = import_consultations(
        tmp_path,
        [
            row(title="First", unions="", contacts="Jens Møller <jens@metal.dk>; Cher <c@x.org>"),
            row(title="Second", unions="", contacts="Jens Møller <Jens@Metal.dk>"),
        ],
    )

    assert result.counts == counts(created=2)
    jens = Contact.objects.get(email="jens@metal.dk")
    assert (jens.first_name, jens.last_name) == ("Jens", "Møller")
    assert Contact.objects.get(email="c@x.org").last_name == "Cher"
    # The second row finds the person the first one added.
    assert Contact.objects.count() == 2
    assert list(Consultation.objects.get(title="Second").attendees.all()) == [jens]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (
            "Anna Nowak",
            "Row 2, column “contacts”: “Anna Nowak” is not one contact of the CRM (found 2); "
            "write “Name <email>” to add them.",
        ),
        (
            "Nobody Known",
            "Row 2, column “contacts”: “Nobody Known” is not one contact of the CRM (found 0); "
            "write “Name <email>” to add them.",
        ),
        (
            "new@example.org",
            "Row 2, column “contacts”: new@example.org is new to the CRM: write "
            "“Name <new@example.org>”.",
        ),
    ],
)
def test_it_rejects_people_it_cannot_tell_apart_or_find(tmp_path, olga, cell, message):
    ContactFactory.create(first_name="Anna", last_name="Nowak", email="a1@x.pl")
    ContactFactory.create(first_name="Anna", last_name="Nowak", email="a2@x.pl")

    result = import_consultations(tmp_path, [row(unions="", contacts=cell)])

    assert result.messages == [message]
    assert not Consultation.objects.exists()
    assert Contact.objects.count() == 2


def test_it_adds_no_person_of_a_rejected_row(tmp_path, olga):
    result = import_consultations(
        tmp_path, [row(unions="", contacts="Jens Møller <jens@metal.dk>; Nobody Known")]
    )

    assert result.counts == counts(rejected=1)
    assert not Contact.objects.exists()


# Staff --------------------------------------------------------------------------------------


def test_it_finds_the_staff_lead_by_username_or_email(tmp_path, ig_metall, olga, organizer):
    result = import_consultations(
        tmp_path,
        [
            row(title="By username", staff="OLGA.OUTREACH"),
            row(title="By email", staff="omar.organizer@example.org"),
        ],
    )

    assert result.counts == counts(created=2)
    assert dict(Consultation.objects.values_list("title", "lead")) == {
        "By username": olga.pk,
        "By email": organizer.pk,
    }


def test_it_makes_the_importing_user_lead_where_the_staff_cell_is_empty(
    tmp_path, ig_metall, organizer
):
    result = import_consultations(tmp_path, [row(staff="")], user=organizer)

    assert result.counts == counts(created=1)
    assert Consultation.objects.get().lead == organizer


def test_it_records_who_ran_the_import_as_who_made_the_change(tmp_path, ig_metall, olga, organizer):
    import_consultations(tmp_path, [row(contacts="Jens Møller <jens@metal.dk>")], user=organizer)

    consultation = Consultation.objects.get()
    assert consultation.lead == olga
    assert (consultation.created_by, consultation.updated_by) == (organizer, organizer)
    assert {entry.history_user for entry in consultation.history.all()} == {organizer}
    assert Contact.objects.get().created_by == organizer


def test_it_rejects_a_row_without_staff_when_nobody_runs_the_import(tmp_path, ig_metall):
    result = import_consultations(tmp_path, [row(staff="")])

    assert result.messages == [
        "Row 2, column “staff”: whose consultation is this? Fill in the staff column."
    ]


def test_it_gives_no_new_consultation_to_a_staff_member_who_has_left(tmp_path, ig_metall):
    UserFactory.create(username="gone", is_active=False)

    result = import_consultations(tmp_path, [row(staff="gone")])

    assert result.messages == ["Row 2, column “staff”: “gone” is no longer an active staff member."]
    assert not Consultation.objects.exists()


def test_it_keeps_the_consultations_of_a_staff_member_who_has_left(tmp_path, ig_metall, olga):
    gone = UserFactory.create(username="gone", is_active=False)
    existing = ConsultationFactory.create(
        title="Welding courses", starts_at=utc(2025, 3, 4, 11, 0), country="DE", lead=gone
    )
    existing.unions.add(ig_metall)

    result = import_consultations(
        tmp_path,
        [row(staff="gone", city="Kiel"), row(staff="gone", title="Other meeting")],
    )

    assert result.counts == counts(updated=1, rejected=1)
    existing.refresh_from_db()
    assert (existing.city, existing.lead) == ("Kiel", gone)
    assert result.messages == ["Row 3, column “staff”: “gone” is no longer an active staff member."]


# Matching and updating ----------------------------------------------------------------------


def test_it_changes_nothing_when_the_same_file_is_imported_again(tmp_path, ig_metall, olga):
    records = [
        row(title="One", contacts="Jens Møller <jens@metal.dk>", topics="welding"),
        row(title="Two", date="05.03.2025 18:00", concerns="wages", summary="Long talk"),
    ]
    first = import_consultations(tmp_path, records)

    again = import_consultations(tmp_path, records)

    assert first.counts == counts(created=2)
    assert again.counts == counts(unchanged=2)
    assert Consultation.objects.count() == 2
    assert Contact.objects.count() == 1


def test_it_matches_by_title_ignoring_case_on_the_same_local_day(tmp_path, ig_metall, olga):
    # 23:30 in Berlin on 4 March; the file says "4 March, 00:30": the same day there.
    existing = ConsultationFactory.create(
        title="Welding Courses", starts_at=utc(2025, 3, 4, 22, 30), country="DE", lead=olga
    )
    existing.unions.add(ig_metall)

    result = import_consultations(
        tmp_path,
        [
            row(title="welding courses", date="04.03.2025 00:30", city="Kiel"),
            row(title="welding courses", date="2025-03-05", city="Bremen"),
        ],
    )

    assert result.counts == counts(updated=1, created=1)
    existing.refresh_from_db()
    assert existing.city == "Kiel"
    assert existing.starts_at == utc(2025, 3, 4, 22, 30)
    assert Consultation.objects.exclude(pk=existing.pk).get().city == "Bremen"


def test_it_replaces_with_filled_cells_and_adds_to_lists(tmp_path, ig_metall, olga, organizer):
    existing = ConsultationFactory.create(
        title="Welding courses",
        starts_at=utc(2025, 3, 4, 11, 0),
        country="DE",
        city="Kiel",
        summary="First notes",
        position=Consultation.Position.SUPPORT,
        lead=olga,
    )
    known = ContactFactory.create()
    existing.unions.add(ig_metall)
    existing.attendees.add(known, through_defaults={"role": Attendance.Role.SPEAKER})
    existing.topics.add(*importing_module.Topic.objects.filter(slug="welding"))
    dgb = UnionFactory.create(name="Ver.di", acronym="", country="DE")

    result = import_consultations(
        tmp_path,
        [
            row(
                unions="Ver.di",
                contacts="Jens Møller <jens@metal.dk>",
                topics="safety",
                city="",
                summary="",
                position="opposed",
                staff="",
            )
        ],
        user=organizer,
    )

    assert result.counts == counts(updated=1)
    existing.refresh_from_db()
    assert existing.position == Consultation.Position.OPPOSED
    assert (existing.city, existing.summary) == ("Kiel", "First notes")
    assert set(existing.unions.all()) == {ig_metall, dgb}
    assert set(existing.topics.values_list("slug", flat=True)) == {"welding", "safety"}
    jens = Contact.objects.get(email="jens@metal.dk")
    assert dict(existing.attendances.values_list("contact", "role")) == {
        known.pk: Attendance.Role.SPEAKER,
        jens.pk: Attendance.Role.PARTICIPANT,
    }
    # An empty staff cell does not hand the consultation to whoever runs the import.
    assert existing.lead == olga


def test_it_changes_the_lead_named_in_the_staff_column(tmp_path, ig_metall, olga, organizer):
    existing = ConsultationFactory.create(
        title="Welding courses", starts_at=utc(2025, 3, 4, 11, 0), country="DE", lead=olga
    )
    existing.unions.add(ig_metall)

    result = import_consultations(tmp_path, [row(staff="omar.organizer")])

    assert result.counts == counts(updated=1)
    existing.refresh_from_db()
    assert existing.lead == organizer


def test_it_updates_a_consultation_whose_row_has_no_staff_without_an_importing_user(
    tmp_path, ig_metall, olga
):
    existing = ConsultationFactory.create(
        title="Welding courses", starts_at=utc(2025, 3, 4, 11, 0), country="DE", lead=olga
    )
    existing.unions.add(ig_metall)

    result = import_consultations(tmp_path, [row(staff="", city="Kiel")])

    assert result.counts == counts(updated=1)
    existing.refresh_from_db()
    assert (existing.city, existing.lead) == ("Kiel", olga)


# Creating missing unions ---------------------------------------------------------------------


def test_it_rejects_unknown_unions_unless_asked_to_create_them(tmp_path, olga):
    refused = import_consultations(tmp_path, [row(unions="Ver.di")])

    assert refused.messages == [
        "Row 2, column “unions”: “Ver.di” is not a known union; add it first or choose “create "
        "missing unions”."
    ]
    assert not Union.objects.exists()

    created = import_consultations(tmp_path, [row(unions="Ver.di")], create_unions=True)

    assert created.counts == counts(created=1)
    assert created.summary.created_unions == ["Ver.di"]
    verdi = Union.objects.get()
    assert (verdi.name, str(verdi.country), verdi.kind) == ("Ver.di", "DE", "national_union")
    assert list(Consultation.objects.get().unions.all()) == [verdi]


def test_it_creates_no_union_for_a_rejected_row(tmp_path, olga):
    result = import_consultations(
        tmp_path,
        [
            row(title="Bad staff", unions="Ver.di", staff="nobody"),
            row(title="Nobody there", unions="Unite", contacts="Nobody Known"),
            row(title="Good", unions="Unite"),
        ],
        create_unions=True,
    )

    assert result.counts == counts(created=1, rejected=2)
    assert list(Union.objects.values_list("name", flat=True)) == ["Unite"]
    assert result.summary.created_unions == ["Unite"]


# Transactions and the command ---------------------------------------------------------------


def test_it_writes_nothing_in_a_dry_run(tmp_path, ig_metall, olga):
    existing = ConsultationFactory.create(
        title="Welding courses", starts_at=utc(2025, 3, 4, 11, 0), country="DE", lead=olga
    )
    existing.unions.add(ig_metall)

    result = import_consultations(
        tmp_path,
        [
            row(city="Kiel"),
            row(title="New", unions="Ver.di", contacts="Jens Møller <jens@metal.dk>"),
        ],
        dry_run=True,
        create_unions=True,
    )

    assert result.counts == counts(created=1, updated=1)
    assert list(Consultation.objects.all()) == [existing]
    existing.refresh_from_db()
    assert existing.city == ""
    assert not Contact.objects.exists()
    assert list(Union.objects.all()) == [ig_metall]


def test_it_writes_nothing_when_the_import_fails_midway(tmp_path, monkeypatch, ig_metall, olga):
    calls = []
    real_create = importing_module.consultation_create

    def failing_create(**kwargs: Any) -> Consultation:
        calls.append(kwargs)
        if len(calls) == 3:
            raise RuntimeError("database gone")
        return real_create(**kwargs)

    monkeypatch.setattr(importing_module, "consultation_create", failing_create)
    records = [
        row(title=f"Meeting {n}", unions="Ver.di", contacts=f"P{n} Q <p{n}@example.org>")
        for n in range(1, 5)
    ]

    with pytest.raises(RuntimeError, match="database gone"):
        import_consultations(tmp_path, records, create_unions=True)

    assert len(calls) == 3
    assert not Consultation.objects.exists()
    assert not Contact.objects.exists()
    assert list(Union.objects.all()) == [ig_metall]


def test_it_runs_as_a_command(tmp_path, ig_metall, olga):
    path = write_csv(
        tmp_path / "c.csv",
        table_rows([row(title="Good", staff=""), row(title="Bad", date="soon")]),
    )
    errors = tmp_path / "errors.csv"

    status, lines, _err = command(
        "import_consultations", str(path), "--errors", str(errors), "--user", "olga.outreach"
    )

    assert status == 1
    assert lines[-1] == "created=1 updated=0 unchanged=0 rejected=1"
    assert "Row 3, column “date”: “soon” is not a date" in errors.read_text(encoding="utf-8-sig")
    assert Consultation.objects.get().lead == olga  # the empty staff cell: --user
    job = ImportJob.objects.get()
    assert (job.kind, job.source, job.created_by, job.created, job.rejected) == (
        "consultations",
        "command",
        olga,
        1,
        1,
    )

    status, lines, _err = command("import_consultations", str(path), "--dry-run")
    assert (status, lines[-1]) == (1, "created=0 updated=0 unchanged=1 rejected=1")

    with pytest.raises(CommandError, match="No user named 'nobody'") as refused:
        command("import_consultations", str(path), "--user", "nobody")
    assert refused.value.returncode == 2
