"""Follow-ups end to end: PostgreSQL, Redis, Celery worker and beat processes, and an SMTP server.

Nothing here calls the services to send: beat dispatches and the worker sends, as in production.
"""

from __future__ import annotations

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm import services as crm_services
from crm.models import Language
from outreach import services
from outreach.models import EmailTemplate, EmailTemplateVersion, FollowUp
from outreach.services.followups import local_to_utc
from tests.factories import ContactFactory, UserFactory
from tests.processes import celery_beat, celery_worker, process_env, wait_for

Status = FollowUp.Status
pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def template(db) -> EmailTemplate:
    template = EmailTemplate.objects.create(name="After the visit")
    for code, subject in (
        ("en", "Thank you, {{ first_name }}"),
        ("pl", "Dziękujemy, {{ first_name }}"),
    ):
        EmailTemplateVersion.objects.create(
            template=template,
            language=Language.objects.get(code=code),
            subject=subject,
            body_text="…",
        )
    return template


@pytest.fixture
def pipeline(tmp_path, postgres, redis_broker, smtp_server):
    """A worker and beat sweeping every second, sending to the test's SMTP server."""
    started = []

    def start(**env: str):
        environment = process_env(
            CELERY_BROKER_URL=redis_broker,
            EMAIL_URL=smtp_server.url,
            FOLLOWUP_DISPATCH_SECONDS="1",
            **env,
        )
        for process in (
            celery_worker(tmp_path, "worker", environment),
            celery_beat(tmp_path, environment),
        ):
            started.append(process.start())

    yield start
    for process in started:
        process.stop()


def test_it_sends_at_the_local_instant_in_the_persons_language_unless_they_opted_out(
    pipeline, template, smtp_server
):
    owner = UserFactory.create()
    polish = ContactFactory.create(
        first_name="Łucja",
        email="lucja@example.pl",
        country="PL",
        timezone="Europe/Warsaw",
        preferred_language=Language.objects.get(code="pl"),
    )
    leaving = ContactFactory.create(first_name="Søren", email="soren@example.dk", country="DK")
    # A few seconds from now on Warsaw's clock, to the minute's second.
    warsaw_now = timezone.now().astimezone(ZoneInfo("Europe/Warsaw")) + timedelta(seconds=6)
    send_at = local_to_utc(warsaw_now.date(), warsaw_now.time(), ZoneInfo("Europe/Warsaw"))
    to_poland = services.followup_schedule(
        contact=polish, owner=owner, send_at=send_at, template=template
    )
    to_denmark = services.followup_schedule(
        contact=leaving, owner=owner, send_at=send_at, template=template
    )
    crm_services.contact_email_opt_out(
        contact=leaving, source="unsubscribe", question="Stop receiving our e-mails?"
    )

    pipeline()
    wait_for(
        lambda: FollowUp.objects.filter(status__in=[Status.SENT, Status.SUPPRESSED]).count() == 2,
        timeout=60,
        what="both follow-ups to be handled",
    )
    to_poland.refresh_from_db()
    to_denmark.refresh_from_db()
    assert to_denmark.status == Status.SUPPRESSED
    assert to_poland.status == Status.SENT
    assert to_poland.sent_at is not None
    assert send_at <= to_poland.sent_at <= send_at + timedelta(seconds=15)
    [message] = smtp_server.messages
    assert message["Subject"] == "Dziękujemy, Łucja"
    assert message["Message-ID"] == to_poland.message_id


def test_it_delivers_once_the_mail_server_is_back(pipeline, template, smtp_server):
    owner = UserFactory.create()
    smtp_server.stop()
    followups = [
        services.followup_schedule(
            contact=ContactFactory.create(), owner=owner, send_at=timezone.now(), template=template
        )
        for _ in range(3)
    ]
    pipeline(FOLLOWUP_RETRY_BASE_SECONDS="1", FOLLOWUP_MAX_ATTEMPTS="10")
    wait_for(
        lambda: FollowUp.objects.filter(attempts__gte=2).count() == 3, timeout=60, what="retries"
    )
    assert FollowUp.objects.filter(status=Status.SENT).count() == 0
    smtp_server.start()
    wait_for(
        lambda: FollowUp.objects.filter(status=Status.SENT).count() == 3,
        timeout=60,
        what="delivery",
    )
    assert sorted(smtp_server.handler.message_ids()) == sorted(f.message_id for f in followups)


def test_it_gives_up_visibly_past_the_attempt_limit(pipeline, template, smtp_server):
    smtp_server.stop()
    followup = services.followup_schedule(
        contact=ContactFactory.create(),
        owner=UserFactory.create(),
        send_at=timezone.now(),
        template=template,
    )
    pipeline(FOLLOWUP_RETRY_BASE_SECONDS="1", FOLLOWUP_MAX_ATTEMPTS="2")
    wait_for(
        lambda: FollowUp.objects.get(pk=followup.pk).status == Status.FAILED,
        timeout=60,
        what="failure",
    )
    followup.refresh_from_db()
    assert followup.attempts == 2
    assert "ConnectionRefusedError" in followup.last_error
    time.sleep(2)
    assert FollowUp.objects.get(pk=followup.pk).attempts == 2  # no more tries once failed
