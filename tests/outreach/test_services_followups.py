"""Follow-ups through the services, sent to a real SMTP server on loopback."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from crm import services as crm_services
from crm.models import Consent, Language
from outreach import services
from outreach.models import EmailTemplate, EmailTemplateVersion, FollowUp
from outreach.services import followups as followups_module
from outreach.services.followups import local_to_utc
from tests.factories import ConsultationFactory, ContactFactory, FollowUpFactory, MembershipFactory

pytestmark = pytest.mark.django_db
Status = FollowUp.Status
WARSAW = ZoneInfo("Europe/Warsaw")


@pytest.fixture
def template() -> EmailTemplate:
    template = EmailTemplate.objects.create(name="Thank you")
    EmailTemplateVersion.objects.create(
        template=template,
        language=Language.objects.get(code="en"),
        subject="Thank you, {{ first_name }}",
        body_text=(
            "Dear {{ full_name }}, thank you for {{ consultation_title }} on "
            "{{ consultation_date }}. {{ sender_name }}"
        ),
        body_html="<p>Dear {{ full_name }}</p>",
    )
    EmailTemplateVersion.objects.create(
        template=template,
        language=Language.objects.get(code="pl"),
        subject="Dziękujemy, {{ first_name }}",
        body_text="Szanowni Państwo, {{ last_name }}: dziękujemy za spotkanie ({{ union }}).",
    )
    return template


def _polish_contact(**fields):
    contact = ContactFactory.create(
        first_name="Małgorzata",
        last_name="Wiśniewska",
        email="mw@example.pl",
        country="PL",
        timezone="Europe/Warsaw",
        preferred_language=Language.objects.get(code="pl"),
        **fields,
    )
    return contact


def _send_due(now=None):
    """Dispatch, then run the send tasks the dispatch enqueued (eagerly, on commit)."""
    return services.followups_dispatch_due(now=now)


# Scheduling


@pytest.mark.parametrize(
    ("day", "expected_utc"),
    [
        (date(2026, 3, 28), datetime(2026, 3, 28, 8, 0, tzinfo=UTC)),  # winter time, UTC+1
        (date(2026, 3, 30), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),  # summer time, UTC+2
        (date(2026, 10, 26), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),  # winter again
    ],
)
def test_it_converts_nine_oclock_in_warsaw_across_daylight_saving(day, expected_utc):
    assert local_to_utc(day, time(9, 0), WARSAW) == expected_utc


def test_it_refuses_a_time_skipped_by_the_clock_change():
    with pytest.raises(ValidationError, match="does not exist"):
        local_to_utc(date(2026, 3, 29), time(2, 30), WARSAW)


def test_it_takes_the_first_of_a_time_that_happens_twice():
    assert local_to_utc(date(2026, 10, 25), time(2, 30), WARSAW) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": ""}, "has no e-mail address"),
        ({"email_consent": Consent.WITHDRAWN}, "withdrawn consent"),
        ({"do_not_contact": True}, "do not contact"),
    ],
)
def test_it_refuses_people_who_cannot_be_emailed(outreach_staffer, template, fields, message):
    contact = ContactFactory.create(**fields)
    with pytest.raises(services.FollowUpRefusedError, match=message):
        services.followup_schedule(
            contact=contact, owner=outreach_staffer, send_at=timezone.now(), template=template
        )
    assert not FollowUp.objects.exists()


def test_it_schedules_a_consultation_follow_up_on_each_persons_clock(outreach_staffer, template):
    consultation = ConsultationFactory.create(country="PL")
    warsaw = _polish_contact()
    lisbon = ContactFactory.create(email="ines@example.pt", country="PT", timezone="Europe/Lisbon")
    opted_out = ContactFactory.create(email_consent=Consent.WITHDRAWN)
    report = services.consultation_followups_schedule(
        consultation=consultation,
        owner=outreach_staffer,
        template=template,
        day=date(2026, 6, 2),
        time_of_day=time(9, 0),
        contacts=[warsaw, lisbon, opted_out],
    )
    assert {f.contact: f.send_at for f in report.scheduled} == {
        warsaw: datetime(2026, 6, 2, 7, 0, tzinfo=UTC),
        lisbon: datetime(2026, 6, 2, 8, 0, tzinfo=UTC),
    }
    assert [contact for contact, _reason in report.skipped] == [opted_out]


# Sending


@pytest.mark.usefixtures("eager_tasks")
def test_it_sends_the_polish_version_to_a_polish_speaker(
    outreach_staffer, template, smtp_server, django_capture_on_commit_callbacks
):
    contact = _polish_contact()
    MembershipFactory.create(contact=contact, union__acronym="Solidarność")
    followup = services.followup_schedule(
        contact=contact,
        owner=outreach_staffer,
        send_at=timezone.now() - timedelta(minutes=1),
        template=template,
        consultation=ConsultationFactory.create(title="Wizyta w Stalowej Woli"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert _send_due() == 1
    [message] = smtp_server.messages
    assert message["Subject"] == "Dziękujemy, Małgorzata"
    assert message["To"] == "mw@example.pl"
    assert message["Message-ID"] == followup.message_id
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].strip().startswith("<http://localhost:8000/u/")
    body = message.get_body(("plain",)).get_content()
    assert "Wiśniewska" in body
    assert "Solidarność" in body
    followup.refresh_from_db()
    assert (followup.status, followup.sent_language, followup.attempts) == (Status.SENT, "pl", 1)
    assert followup.sent_subject == "Dziękujemy, Małgorzata"


@pytest.mark.usefixtures("eager_tasks")
def test_it_falls_back_to_english_and_escapes_html(
    outreach_staffer, template, smtp_server, django_capture_on_commit_callbacks
):
    contact = ContactFactory.create(
        first_name="<b>Ayşe</b>", preferred_language=Language.objects.get(code="tr"), country="TR"
    )
    services.followup_schedule(
        contact=contact, owner=outreach_staffer, send_at=timezone.now(), template=template
    )
    with django_capture_on_commit_callbacks(execute=True):
        _send_due()
    [message] = smtp_server.messages
    assert message["Subject"] == "Thank you, <b>Ayşe</b>"
    assert "<p>Dear &lt;b&gt;Ayşe&lt;/b&gt;" in message.get_body(("html",)).get_content()
    assert FollowUp.objects.get().sent_language == "en"


@pytest.mark.usefixtures("eager_tasks")
def test_it_suppresses_a_follow_up_when_the_person_opted_out_after_scheduling(
    outreach_staffer, template, smtp_server, django_capture_on_commit_callbacks
):
    contact = _polish_contact()
    followup = services.followup_schedule(
        contact=contact, owner=outreach_staffer, send_at=timezone.now(), template=template
    )
    crm_services.contact_email_opt_out(
        contact=contact, source="unsubscribe", question="Stop receiving our e-mails?"
    )
    with django_capture_on_commit_callbacks(execute=True):
        _send_due()
    followup.refresh_from_db()
    assert followup.status == Status.SUPPRESSED
    assert smtp_server.messages == []


def test_it_dispatches_only_what_is_due_and_only_once(django_capture_on_commit_callbacks):
    due = FollowUpFactory.create(send_at=timezone.now() - timedelta(minutes=5))
    later = FollowUpFactory.create(send_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.followups_dispatch_due() == 1
        assert services.followups_dispatch_due() == 0
    assert len(callbacks) == 1
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, later.status) == (Status.QUEUED, Status.SCHEDULED)


def test_it_sends_nothing_for_a_row_that_is_not_queued(smtp_server):
    for status in (Status.SCHEDULED, Status.SENT, Status.CANCELLED, Status.SENDING, Status.UNKNOWN):
        followup = FollowUpFactory.create(status=status)
        assert services.followup_send(followup_id=followup.pk) == "skipped"
    assert services.followup_send(followup_id=999_999) == "skipped"
    assert smtp_server.messages == []


# Committed rows, seen by other connections; the serialized rollback puts back the roles and
# reference data the migrations made, as every other such test here does.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_claims_a_row_for_one_sender_only(smtp_server):
    """Four workers given the same id at the same instant: one sends, the others do nothing."""
    followup = FollowUpFactory.create(status=Status.QUEUED, send_at=timezone.now())
    results: list[str] = []
    start = threading.Barrier(4)

    def send() -> None:
        try:
            start.wait(timeout=10)
            results.append(services.followup_send(followup_id=followup.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["sent", "skipped", "skipped", "skipped"]
    assert len(smtp_server.messages) == 1


# Failures


def test_it_retries_a_temporary_failure_later_with_backoff(smtp_server, settings):
    settings.FOLLOWUP_RETRY_BASE_SECONDS = 60
    followup = FollowUpFactory.create(status=Status.QUEUED, send_at=timezone.now())
    smtp_server.stop()
    with time_machine.travel(datetime(2026, 5, 1, 12, 0, tzinfo=UTC), tick=False):
        assert services.followup_send(followup_id=followup.pk) == "retry"
    followup.refresh_from_db()
    assert followup.status == Status.SCHEDULED
    assert followup.send_at == datetime(2026, 5, 1, 12, 1, tzinfo=UTC)
    assert "ConnectionRefusedError" in followup.last_error
    FollowUp.objects.filter(pk=followup.pk).update(status=Status.QUEUED, attempts=2)
    with time_machine.travel(datetime(2026, 5, 1, 12, 1, tzinfo=UTC), tick=False):
        services.followup_send(followup_id=followup.pk)
    followup.refresh_from_db()
    assert followup.send_at == datetime(2026, 5, 1, 12, 5, tzinfo=UTC)  # 60 s * 2 ** 2


def test_it_fails_after_the_attempt_limit_and_says_why(smtp_server, settings):
    settings.FOLLOWUP_MAX_ATTEMPTS = 3
    followup = FollowUpFactory.create(status=Status.QUEUED, send_at=timezone.now(), attempts=2)
    smtp_server.stop()
    assert services.followup_send(followup_id=followup.pk) == "failed"
    followup.refresh_from_db()
    assert (followup.status, followup.attempts) == (Status.FAILED, 3)
    assert "ConnectionRefusedError" in followup.last_error


def test_it_fails_at_once_when_the_server_refuses_for_good(smtp_server):
    smtp_server.handler.refuse_with = "550 5.1.1 mailbox unavailable"
    followup = FollowUpFactory.create(status=Status.QUEUED, send_at=timezone.now())
    assert services.followup_send(followup_id=followup.pk) == "failed"
    followup.refresh_from_db()
    assert followup.status == Status.FAILED
    assert "550" in followup.last_error


def test_it_marks_rows_left_sending_for_review_and_requeues_lost_tasks(
    settings, django_capture_on_commit_callbacks
):
    settings.FOLLOWUP_SENDING_TIMEOUT = 600
    settings.FOLLOWUP_REQUEUE_AFTER = 300
    now = timezone.now()
    stuck = FollowUpFactory.create(status=Status.SENDING, sending_at=now - timedelta(minutes=11))
    busy = FollowUpFactory.create(status=Status.SENDING, sending_at=now - timedelta(minutes=1))
    lost = FollowUpFactory.create(status=Status.QUEUED, queued_at=now - timedelta(minutes=6))
    with django_capture_on_commit_callbacks() as callbacks:
        services.followups_dispatch_due(now=now)
    for followup in (stuck, busy, lost):
        followup.refresh_from_db()
    assert (stuck.status, busy.status, lost.status) == (
        Status.UNKNOWN,
        Status.SENDING,
        Status.QUEUED,
    )
    assert "may or may not have been delivered" in stuck.last_error
    assert lost.queued_at == now
    assert len(callbacks) == 1


# Staff actions


def test_it_cancels_reschedules_and_retries(outreach_staffer):
    followup = FollowUpFactory.create(owner=outreach_staffer)
    services.followup_cancel(followup=followup, by=outreach_staffer)
    assert followup.status == Status.CANCELLED
    with pytest.raises(ValidationError, match="cannot be changed"):
        services.followup_reschedule(followup=followup, send_at=timezone.now(), by=outreach_staffer)
    failed = FollowUpFactory.create(owner=outreach_staffer, status=Status.FAILED, attempts=5)
    services.followup_retry(followup=failed, by=outreach_staffer)
    assert (failed.status, failed.attempts) == (Status.SCHEDULED, 0)
    sent = FollowUpFactory.create(owner=outreach_staffer, status=Status.SENT)
    with pytest.raises(ValidationError):
        services.followup_retry(followup=sent, by=outreach_staffer)


def test_it_refuses_unknown_merge_fields_in_templates(template):
    version = EmailTemplateVersion(
        template=template,
        language=Language.objects.get(code="de"),
        subject="Hallo {{ first_name }}",
        body_text="{{ contact.email }} {{ password }}",
    )
    with pytest.raises(
        ValidationError, match=re.escape("Unknown merge fields: contact.email, password")
    ):
        version.full_clean()


def test_it_reuses_the_smtp_connection_but_not_one_the_server_closed(smtp_server):
    followups_module._smtp_connection_drop()  # start from no connection, whatever ran before
    first = FollowUpFactory.create(status=Status.QUEUED, send_at=timezone.now())
    second = FollowUpFactory.create(status=Status.QUEUED, send_at=timezone.now())
    third = FollowUpFactory.create(status=Status.QUEUED, send_at=timezone.now())
    assert services.followup_send(followup_id=first.pk) == "sent"
    assert services.followup_send(followup_id=second.pk) == "sent"
    assert smtp_server.handler.greetings == 1  # one connection for both
    smtp_server.stop()  # the relay drops every connection, then comes back
    smtp_server.start()
    assert services.followup_send(followup_id=third.pk) == "sent"
    assert len(smtp_server.messages) == 3
    assert smtp_server.handler.greetings == 2


def test_it_never_retries_a_message_the_server_may_have_taken(smtp_server, settings):
    """The server takes the message and hangs up before answering: perhaps delivered. Needs a
    person, not a second copy."""
    smtp_server.handler.drop_after_data = True
    followup = FollowUpFactory.create(status=Status.QUEUED, send_at=timezone.now())
    assert services.followup_send(followup_id=followup.pk) == "unknown"
    followup.refresh_from_db()
    assert followup.status == Status.UNKNOWN
    assert "may or may not have been delivered" in followup.last_error
    assert services.followups_dispatch_due(now=timezone.now() + timedelta(hours=1)) == 0
    assert len(smtp_server.messages) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_skips_rows_another_dispatcher_holds():
    """A dispatcher never waits for, nor queues, the rows another one has claimed."""
    FollowUpFactory.create(send_at=timezone.now() - timedelta(minutes=1))
    locked, released = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(FollowUp.objects.select_for_update().filter(status=Status.SCHEDULED))
                locked.set()
                released.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(timeout=10)
    try:
        assert services.followups_dispatch_due() == 0
    finally:
        released.set()
        holder.join()
    assert services.followups_dispatch_due() == 1


def test_it_schedules_once_for_one_submission_key(outreach_staffer, template):
    key = uuid.uuid4()
    contact = _polish_contact()
    first = services.followup_schedule(
        contact=contact,
        owner=outreach_staffer,
        send_at=timezone.now(),
        template=template,
        submission_key=key,
    )
    again = services.followup_schedule(
        contact=contact,
        owner=outreach_staffer,
        send_at=timezone.now(),
        template=template,
        submission_key=key,
    )
    assert first == again
    assert FollowUp.objects.count() == 1


def test_it_does_not_send_a_consultation_follow_up_twice_when_saved_again(
    outreach_staffer, template
):
    consultation = ConsultationFactory.create(country="PL")
    contact = _polish_contact()
    arguments = {
        "consultation": consultation,
        "owner": outreach_staffer,
        "template": template,
        "day": date(2027, 6, 2),
        "time_of_day": time(9, 0),
        "contacts": [contact],
    }
    services.consultation_followups_schedule(**arguments)
    report = services.consultation_followups_schedule(**arguments)
    assert report.scheduled == []
    assert report.skipped == [(contact, "already has this follow-up")]
    assert FollowUp.objects.count() == 1


def test_it_cancels_pending_follow_ups_of_a_deleted_consultation(outreach_staffer, template):
    consultation = ConsultationFactory.create(lead=outreach_staffer)
    pending = FollowUpFactory.create(consultation=consultation)
    sent = FollowUpFactory.create(consultation=consultation, status=Status.SENT)
    services.consultation_delete(consultation=consultation, by=outreach_staffer)
    pending.refresh_from_db()
    sent.refresh_from_db()
    assert (pending.status, sent.status) == (Status.CANCELLED, Status.SENT)


def test_it_refuses_a_template_without_english_to_fall_back_on(outreach_staffer):
    polish_only = EmailTemplate.objects.create(name="Tylko po polsku")
    EmailTemplateVersion.objects.create(
        template=polish_only,
        language=Language.objects.get(code="pl"),
        subject="Temat",
        body_text="Treść",
    )
    with pytest.raises(ValidationError, match="no English version"):
        services.followup_schedule(
            contact=ContactFactory.create(),
            owner=outreach_staffer,
            send_at=timezone.now(),
            template=polish_only,
        )


def test_it_refuses_dates_past_the_end_of_the_calendar():
    with pytest.raises(ValidationError, match="before the year 9999"):
        local_to_utc(date(9999, 12, 31), time(23, 0), ZoneInfo("America/Toronto"))
