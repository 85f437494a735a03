"""Accountability and data subject requests through the services: the access log, the export of
everything held about a person, and erasure (scanned for afterwards in every table and file)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from crm import services as crm_services
from crm.importing import services as import_services
from crm.models import (
    Consent,
    Contact,
    ContactAccess,
    ContactErasure,
    ErasureReview,
    ImportJob,
    Membership,
)
from crm.privacy import services
from crm.text import fold
from outreach import services as outreach_services
from outreach.models import Attendance, Consultation, FollowUp, PublicComment
from outreach.reports import ReportFilters, consultation_report
from outreach.services import comments as comment_services
from outreach.services.followups import _smtp_connection_drop
from tests.factories import ContactFactory, UnionFactory

pytestmark = pytest.mark.django_db

FIRST, LAST = "Henrike", "Quästenberg-Ylvisaker"
FULL = f"{FIRST} {LAST}"
EMAIL = "h.quastenberg@metall-nord.example"
PHONE = "+4930901820"  # a Berlin number, as the contact stores it
PHONE_NATIONAL = "030 901820"
# As typed, and folded as the search column keeps names ("quastenberg-ylvisaker").
NEEDLES = (FULL, LAST, EMAIL, PHONE, PHONE_NATIONAL, fold(FULL), fold(LAST))


def _person(by, union):
    return crm_services.contact_create(
        data={
            "first_name": FIRST,
            "last_name": LAST,
            "email": EMAIL,
            "phone": PHONE_NATIONAL,
            "country": "DE",
            "trade": "welder",
            "notes": f"Met {FIRST} at the works council; call {PHONE_NATIONAL} after 5.",
            "tags": "steward, Kiel",
            "union": union,
            "union_role": Membership.Role.SHOP_STEWARD,
            "email_consent": Consent.GRANTED,
        },
        by=by,
    )


def _consultation(by, union, attendees, **data):
    return outreach_services.consultation_create(
        data={
            "starts_at": timezone.now() - timedelta(days=3),
            "status": Consultation.Status.HELD,
            "format": Consultation.Format.SITE_VISIT,
            "country": "DE",
            "position": Consultation.Position.SUPPORT,
            "unions": [union],
            "attendees": [(contact, Attendance.Role.SPEAKER) for contact in attendees],
            **data,
        },
        by=by,
    )


def _text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() "
            "AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb') "
            "AND table_name IN (SELECT table_name FROM information_schema.tables "
            "  WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')"
        )
        return cursor.fetchall()


def database_hits(needles) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a text or JSON column holds a needle, any case."""
    hits = []
    columns = _text_columns()
    assert ("crm_contact", "last_name") in columns  # the scan sees the tables at all
    with connection.cursor() as cursor:
        for table, column in columns:
            for needle in needles:
                cursor.execute(
                    f'SELECT count(*) FROM "{table}" WHERE "{column}"::text ILIKE %s',  # noqa: S608
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append((table, column, needle))
    return hits


def file_hits(folder: Path, needles) -> list[tuple[str, str]]:
    """Files under `folder` whose bytes, read as UTF-8, Windows-1252 or decoded as e-mail
    (quoted-printable, base64), hold a needle."""
    from email import message_from_bytes
    from email import policy as email_policy

    hits = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        texts = [raw.decode("utf-8", errors="replace"), raw.decode("cp1252", errors="replace")]
        for chunk in raw.split(b"-" * 79):
            message = message_from_bytes(chunk.strip(), policy=email_policy.default)
            for part in message.walk():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    texts.append(payload.decode("utf-8", errors="replace"))
            texts += [str(value) for value in message.values()]
        hits += [
            (str(path), needle)
            for needle in needles
            if any(needle.casefold() in text.casefold() for text in texts)
        ]
    return hits


@pytest.fixture
def mail_folder(settings, tmp_path) -> Iterator[Path]:
    """The embedded mode's outgoing mail: files under var/mail (here a folder of the test)."""
    folder = tmp_path / "mail"
    folder.mkdir()
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(folder)
    _smtp_connection_drop()
    yield folder
    _smtp_connection_drop()


@pytest.fixture
def import_folder(settings, tmp_path) -> Path:
    folder = tmp_path / "imports"
    folder.mkdir()
    settings.IMPORT_DIR = folder
    return folder


def _send_due(capture) -> None:
    with capture(execute=True):
        outreach_services.followups_dispatch_due(now=timezone.now() + timedelta(minutes=1))


@pytest.mark.usefixtures("postgres", "eager_tasks")
def test_it_erases_a_person_from_every_table_and_every_file(
    administrator,
    outreach_staffer,
    organizer,
    mail_folder,
    import_folder,
    django_capture_on_commit_callbacks,
):
    union = UnionFactory.create(name="IG Metall Küste", acronym="IGMK")
    person = _person(organizer, union)
    crm_services.contact_update(
        contact=person, data={"email": EMAIL.upper().replace("@M", "@m")}, by=organizer
    )
    crm_services.contact_update(contact=person, data={"email": EMAIL}, by=organizer)
    colleague = ContactFactory.create(first_name=FIRST, last_name="Lind", email="lind@x.example")
    met = _consultation(
        outreach_staffer,
        union,
        [person, colleague],
        summary=f"{FULL} explained the welding certificates; Ms {LAST} will send the list.",
        commitments=f"Send the draft to {EMAIL}.",
    )
    elsewhere = _consultation(outreach_staffer, union, [colleague], outcomes=f"Ask {FULL} to join.")
    outreach_services.consultation_update(
        consultation=met,
        data={
            "outcomes": f"{FIRST} agreed (tel. {PHONE}).",
            "unions": [union],
            "attendees": [(person, Attendance.Role.SPEAKER), (colleague, "participant")],
        },
        by=outreach_staffer,
    )
    # E-mails sent the real way (outbox, dispatch, send task, the file backend), one pending.
    outreach_services.followup_schedule(
        contact=person,
        owner=outreach_staffer,
        send_at=timezone.now(),
        subject="Thank you, {{ full_name }}",
        body="Dear {{ full_name }},\n\nthank you for the visit.",
        consultation=met,
    )
    _send_due(django_capture_on_commit_callbacks)
    pending = outreach_services.followup_schedule(
        contact=person,
        owner=outreach_staffer,
        send_at=timezone.now() + timedelta(days=5),
        subject=f"Next meeting, {FIRST}",
        body="See you in Kiel.",
    )
    assert FULL in "".join(p.read_text() for p in mail_folder.iterdir())
    comment = comment_services.public_comment_submit(
        data={
            "comment": f"I am {FULL}, a welder in Kiel. Keep the work here.",
            "name": FULL,
            "email": EMAIL,
            "updates_opt_in": True,
            "language": "en",
        },
        consent_question="May we post your comment?",
        updates_question="Send me updates?",
    )
    assert comment.contact_id == person.pk
    # An import file naming them, previewed (its samples name them), and another file as it
    # was left by someone in the folder.
    csv = f"first_name,last_name,email,phone\n{FIRST},{LAST},{EMAIL},{PHONE_NATIONAL}\n"
    job = import_services.import_job_create(
        upload=[csv.encode("cp1252", errors="replace")], file_name="kiel.csv", user=organizer
    )
    import_services.import_job_start(job=job, dry_run=True)
    job.refresh_from_db()
    assert FULL in json.dumps(job.preview, ensure_ascii=False)
    (import_folder / "stray").mkdir()
    (import_folder / "stray" / "people.csv").write_text(f"name;mail\n{FULL};{EMAIL}\n")
    (import_folder / "stray" / "unrelated.csv").write_text("name;mail\nAnna Berg;a@b.example\n")
    LogEntry.objects.create(
        user=administrator,
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=str(person.pk),
        object_repr=str(person),
        action_flag=CHANGE,
        change_message=f"Changed email to {EMAIL}.",
    )
    services.contact_access_record(
        contact=person, by=administrator, action=ContactAccess.Action.VIEWED, source="/contacts/"
    )
    services.contacts_access_record(
        contacts=Contact.objects.all(), by=organizer, source="/contacts/export.csv"
    )
    services.contact_subject_export(contact=person, by=administrator, source="/x/")
    assert {hit[0] for hit in database_hits(NEEDLES)} >= {
        "crm_contact",
        "crm_historicalcontact",
        "outreach_consultation",
        "outreach_historicalconsultation",
        "outreach_followup",
        "outreach_publiccomment",
        "crm_importjob",
        "django_admin_log",
    }

    assert {needle for _path, needle in file_hits(mail_folder, NEEDLES)} >= {FULL, EMAIL}
    assert {needle for _path, needle in file_hits(import_folder, NEEDLES)} >= {FULL, EMAIL}

    with django_capture_on_commit_callbacks(execute=True):
        erasure = services.contact_erase(
            contact=person,
            by=administrator,
            reason=f"Asked by e-mail from {EMAIL} on 3 May",
            confirmation="ERASE",
        )

    assert database_hits(NEEDLES) == []
    assert file_hits(import_folder, NEEDLES) == []
    assert file_hits(mail_folder, NEEDLES) == []
    assert (import_folder / "stray" / "unrelated.csv").exists()
    # The tombstone, and the person's place in the figures.
    erasure.refresh_from_db()
    assert erasure.contact_id == person.pk
    assert erasure.erased_by == administrator
    assert erasure.reason == f"Asked by e-mail from Erased contact #{person.pk} on 3 May"
    person.refresh_from_db()
    assert person.full_name == f"Erased contact #{person.pk}"
    assert (person.email, person.phone, person.notes, person.trade) == ("", "", "", "")
    assert person.do_not_contact is True
    assert not person.tags.exists()
    assert Attendance.objects.filter(contact=person).count() == 1
    assert not Membership.objects.filter(contact_id=person.pk).exists()
    assert not person.history.exists()
    assert not Membership.history.filter(contact_id=person.pk).exists()
    pending.refresh_from_db()
    assert pending.status == FollowUp.Status.CANCELLED
    sent = FollowUp.objects.get(contact=person, status=FollowUp.Status.SENT)
    assert (sent.body, sent.sent_body) == ("", "")
    assert sent.sent_subject == f"Thank you, Erased contact #{person.pk}"
    comment.refresh_from_db()
    assert (comment.name, comment.email) == ("", "")
    assert comment.comment.startswith(f"I am Erased contact #{person.pk}, a welder")
    # The colleague who shares the first name is untouched.
    colleague.refresh_from_db()
    assert colleague.first_name == FIRST
    # Notes that named them: the name replaced, the consultation listed for review.
    met.refresh_from_db()
    assert met.summary.startswith(f"Erased contact #{person.pk} explained")
    assert f"Ms Erased contact #{person.pk} will" in met.summary
    reviews = {r.consultation_id: sorted(r.fields) for r in ErasureReview.objects.all()}
    assert reviews == {
        met.pk: ["commitments", "outcomes", "summary"],
        elsewhere.pk: ["outcomes"],
    }
    assert ContactAccess.objects.filter(contact_id=person.pk, action="erased").count() == 1
    job.refresh_from_db()
    assert job.stored_file == ""
    assert job.status == job.Status.CANCELLED


def test_it_keeps_the_report_figures_after_an_erasure(
    postgres, administrator, outreach_staffer, organizer
):
    union = UnionFactory.create()
    person = _person(organizer, union)
    others = ContactFactory.create_batch(2)
    first = _consultation(outreach_staffer, union, [person, *others], summary=f"With {FULL}.")
    _consultation(
        outreach_staffer,
        union,
        [person],
        starts_at=timezone.now() - timedelta(days=40),
        position=Consultation.Position.OPPOSED,
    )
    FollowUp.objects.create(
        contact=person,
        owner=outreach_staffer,
        consultation=first,
        subject="Thanks",
        status=FollowUp.Status.SENT,
        send_at=timezone.now(),
        sent_at=timezone.now(),
        sent_body=f"Dear {FULL}",
        message_id="<sent@test.example>",
    )
    views = [ReportFilters(), ReportFilters(union=union), ReportFilters(country="DE")]
    before = [consultation_report(filters=filters).as_json() for filters in views]
    assert before[0]["unique_contacts_reached"] == 3

    services.contact_erase(contact=person, by=administrator, reason="", confirmation=FULL)

    after = [consultation_report(filters=filters).as_json() for filters in views]
    assert json.dumps(after, cls=DjangoJSONEncoder) == json.dumps(before, cls=DjangoJSONEncoder)


def test_it_erases_only_when_confirmed_and_only_once(administrator, organizer):
    person = _person(organizer, UnionFactory.create())
    with pytest.raises(ValidationError) as error:
        services.contact_erase(
            contact=person, by=administrator, reason="", confirmation=f"{FIRST} Quastenberg"
        )
    assert "confirmation" in error.value.message_dict
    person.refresh_from_db()
    assert person.email == EMAIL
    assert not ContactErasure.objects.exists()

    services.contact_erase(
        contact=person, by=administrator, reason="", confirmation=f"  {FULL.upper()} "
    )
    with pytest.raises(ValidationError):
        services.contact_erase(contact=person, by=administrator, reason="", confirmation="ERASE")
    assert ContactErasure.objects.count() == 1


def test_it_leaves_namesakes_notes_alone(administrator, outreach_staffer, organizer):
    union = UnionFactory.create()
    person = _person(organizer, union)
    namesake = ContactFactory.create(first_name="Jan", last_name=LAST, email="jan@x.example")
    theirs = _consultation(outreach_staffer, union, [namesake], summary=f"Mr {LAST} spoke.")

    services.contact_erase(contact=person, by=administrator, reason="", confirmation="ERASE")

    theirs.refresh_from_db()
    namesake.refresh_from_db()
    # A surname alone is the erased person only where they were.
    assert theirs.summary == f"Mr {LAST} spoke."
    assert namesake.last_name == LAST
    assert not ErasureReview.objects.exists()


def test_it_exports_everything_held_and_logs_the_export(administrator, outreach_staffer, organizer):
    union = UnionFactory.create(name="IG Metall Küste")
    person = _person(organizer, union)
    _consultation(outreach_staffer, union, [person], summary="Certificates.", title="Kiel visit")
    FollowUp.objects.create(
        contact=person,
        owner=outreach_staffer,
        subject="Thanks",
        body="Draft",
        status=FollowUp.Status.SENT,
        send_at=timezone.now(),
        sent_at=timezone.now(),
        sent_subject="Thanks Henrike",
        sent_body="Dear Henrike, thank you.",
        message_id="<x@test.example>",
    )
    comment = PublicComment.objects.create(
        comment="Keep the work here.",
        name=FULL,
        email=EMAIL,
        contact=person,
        consent_question="May we post it?",
        consent_to_publish=True,
        updates_question="Updates?",
    )
    services.contact_access_record(
        contact=person, by=organizer, action=ContactAccess.Action.VIEWED, source="/contacts/1/"
    )

    data = services.contact_subject_export(contact=person, by=administrator, source="/export/")

    assert data["profile"]["email"] == EMAIL
    assert data["profile"]["phone"] == PHONE
    assert data["profile"]["tags"] == ["Kiel", "steward"]
    assert data["consent"]["email_consent"] == "Granted"
    assert data["memberships"] == [
        {"union": "IG Metall Küste (" + union.acronym + ")", "role": "Shop steward",
         "since": None, "until": None}
    ]  # fmt: skip
    [consultation] = data["consultations"]
    assert (consultation["title"], consultation["role"]) == ("Kiel visit", "Speaker")
    [followup] = data["followups"]
    assert followup["sent_body"] == "Dear Henrike, thank you."
    [exported_comment] = data["public_comments"]
    assert exported_comment["comment"] == comment.comment
    assert exported_comment["consent_question"] == "May we post it?"
    assert [version["record"] for version in data["history"]].count("contact") >= 1
    assert "membership" in {version["record"] for version in data["history"]}
    assert [(a["by"], a["action"]) for a in data["access_log"]] == [
        ("omar.organizer", "Viewed"),
        ("ada.admin", "Subject access export"),
    ]
    # Everything in it can be written as JSON.
    assert FULL in json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False)


def test_it_logs_one_row_per_exported_contact_in_one_query(organizer, django_assert_num_queries):
    ContactFactory.create_batch(5)
    with django_assert_num_queries(1):
        written = services.contacts_access_record(
            contacts=Contact.objects.filter(country="DE"), by=organizer, source="/contacts/x.csv"
        )
    assert written == 5
    rows = ContactAccess.objects.all()
    assert {(row.user, row.action, row.count) for row in rows} == {(organizer, "exported", 5)}
    assert {row.contact_id for row in rows} == set(Contact.objects.values_list("pk", flat=True))


def test_it_scrubs_what_names_them_without_being_linked(administrator, organizer):
    person = _person(organizer, UnionFactory.create())
    unlinked = PublicComment.objects.create(
        comment=f"Written by {FULL}.",
        name="H. Q.",
        email=EMAIL.upper(),
        consent_question="?",
        updates_question="?",
    )
    other = PublicComment.objects.create(
        comment="Nothing about them.", name="Anna Berg", consent_question="?", updates_question="?"
    )
    job = ImportJob.objects.create(
        source=ImportJob.Source.WEB,
        file_name="people.csv",
        preview={
            "samples": {
                "updated": [
                    {"number": 2, "name": FULL, "changes": [["last name", "Old", LAST]]},
                    {"number": 3, "name": "Anna Berg", "changes": [["last name", "X", LAST]]},
                ]
            }
        },
    )

    services.contact_erase(contact=person, by=administrator, reason="", confirmation="ERASE")

    unlinked.refresh_from_db()
    assert (unlinked.name, unlinked.email) == ("", "")
    assert unlinked.comment == f"Written by Erased contact #{person.pk}."
    other.refresh_from_db()
    assert other.name == "Anna Berg"
    job.refresh_from_db()
    theirs, namesake = job.preview["samples"]["updated"]
    placeholder = f"Erased contact #{person.pk}"
    assert theirs == {
        "number": 2,
        "name": placeholder,
        "changes": [["last name", "Old", placeholder]],
    }
    # Another row's surname is that row's business.
    assert namesake["changes"] == [["last name", "X", LAST]]
