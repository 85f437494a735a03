"""The weekly report e-mail: who gets it, when, once per week, through the follow-up outbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError

from crm import services as crm_services
from crm.models import StaffProfile
from outreach import services
from outreach.models import Consultation, Digest, FollowUp
from outreach.services.digests import digest_subscribers
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db
Status = FollowUp.Status
# Monday 16 November 2026, 06:30 UTC: 07:30 in Berlin, 01:30 in New York.
MONDAY_MORNING = datetime(2026, 11, 16, 6, 30, tzinfo=UTC)


def _subscribe(user, zone: str = "Europe/Berlin") -> None:
    StaffProfile.objects.update_or_create(
        user=user, defaults={"timezone": zone, "weekly_digest": True}
    )


def _run(now: datetime) -> int:
    services.digests_schedule(now=now)
    return services.digests_dispatch_due(now=now)


def test_it_offers_the_digest_only_to_active_readers_of_the_reports(
    manager, administrator, outreach_staffer, organizer
):
    for user in (manager, administrator, outreach_staffer, organizer):
        _subscribe(user)
    assert set(digest_subscribers()) == {manager, administrator}
    StaffProfile.objects.filter(user=manager).update(weekly_digest=False)
    administrator.is_active = False
    administrator.save()
    assert list(digest_subscribers()) == []


def test_it_reaches_an_organizer_granted_the_reports(organizer):
    _subscribe(organizer)
    organizer.user_permissions.add(
        Permission.objects.get(content_type__app_label="outreach", codename="view_reports")
    )
    assert list(digest_subscribers()) == [organizer]


def test_it_refuses_a_subscription_to_someone_who_may_not_read_the_reports(outreach_staffer):
    with pytest.raises(ValidationError):
        crm_services.staff_profile_update(
            user=outreach_staffer, timezone_name="", weekly_digest=True
        )


def test_it_waits_for_monday_morning_in_the_subscribers_own_zone(manager, administrator):
    _subscribe(manager, "Europe/Berlin")
    _subscribe(administrator, "America/New_York")
    assert services.digests_schedule(now=MONDAY_MORNING) == 1
    [row] = Digest.objects.all()
    assert (row.recipient, str(row.week_start)) == (manager, "2026-11-09")
    # 07:05 in New York: now the administrator's turn, for the same week.
    services.digests_schedule(now=datetime(2026, 11, 16, 12, 5, tzinfo=UTC))
    assert sorted(Digest.objects.values_list("recipient__username", "week_start")) == [
        ("ada.admin", datetime(2026, 11, 9).date()),
        ("mia.manager", datetime(2026, 11, 9).date()),
    ]


def test_it_sends_the_weeks_figures_once_however_often_beat_runs(
    manager, smtp_server, eager_tasks, django_capture_on_commit_callbacks
):
    _subscribe(manager)
    # Held last week in Warsaw, one at 23:30 local on Sunday (22:30 UTC): still last week.
    ConsultationFactory.create(
        country="PL", starts_at=datetime(2026, 11, 10, 9, 0, tzinfo=UTC), title="Stalowa Wola"
    )
    ConsultationFactory.create(country="PL", starts_at=datetime(2026, 11, 15, 22, 30, tzinfo=UTC))
    # The week before, and a planned one: not in this digest.
    ConsultationFactory.create(country="DE", starts_at=datetime(2026, 11, 8, 10, 0, tzinfo=UTC))
    ConsultationFactory.create(
        country="FR",
        starts_at=datetime(2026, 11, 12, 10, 0, tzinfo=UTC),
        status=Consultation.Status.PLANNED,
    )
    for hour in range(3):
        with (
            time_machine.travel(MONDAY_MORNING, tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            _run(datetime(2026, 11, 16, 6 + hour, 30, tzinfo=UTC))
    [message] = smtp_server.messages
    assert message["To"] == "mia.manager@example.org"
    assert "2026-11-09" in message["Subject"]
    assert "2 held" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "Consultations held: 2" in text
    assert "Planned: 1" in text
    assert "Poland: 2" in text
    assert "Germany" not in text
    assert "date_from=2026-11-09&date_to=2026-11-15" in text
    html = message.get_body(("html",)).get_content()
    assert "Poland" in html
    digest = Digest.objects.get()
    assert (digest.status, digest.attempts) == (Status.SENT, 1)
    assert "Consultations held: 2" in digest.sent_body


def test_it_suppresses_a_digest_whose_reader_unsubscribed_meanwhile(
    manager, smtp_server, eager_tasks, django_capture_on_commit_callbacks
):
    _subscribe(manager)
    services.digests_schedule(now=MONDAY_MORNING)
    StaffProfile.objects.filter(user=manager).update(weekly_digest=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.digests_dispatch_due(now=MONDAY_MORNING)
    assert smtp_server.messages == []
    assert Digest.objects.get().status == Status.SUPPRESSED


def test_it_sends_a_queued_digest_to_one_worker_only(manager, smtp_server):
    _subscribe(manager)
    services.digests_schedule(now=MONDAY_MORNING)
    digest = Digest.objects.get()
    Digest.objects.filter(pk=digest.pk).update(status=Status.QUEUED)
    assert services.digest_send(digest_id=digest.pk) == "sent"
    assert services.digest_send(digest_id=digest.pk) == "skipped"
    assert len(smtp_server.messages) == 1


def test_it_retries_a_digest_when_the_mail_server_is_down(manager, smtp_server):
    _subscribe(manager)
    services.digests_schedule(now=MONDAY_MORNING)
    digest = Digest.objects.get()
    Digest.objects.filter(pk=digest.pk).update(status=Status.QUEUED)
    smtp_server.stop()
    assert services.digest_send(digest_id=digest.pk) == "retry"
    digest.refresh_from_db()
    assert digest.status == Status.SCHEDULED
    assert digest.last_error


def test_it_lets_a_manager_subscribe_from_their_settings(manager_client, manager):
    page = manager_client.get("/accounts/settings/")
    assert "weekly_digest" in page.content.decode()
    response = manager_client.post(
        "/accounts/settings/", {"timezone": "Europe/Warsaw", "weekly_digest": "on"}
    )
    assert response.status_code == 302
    assert StaffProfile.objects.get(user=manager).weekly_digest is True


def test_it_offers_no_digest_to_outreach_staff(staff_client, outreach_staffer):
    assert "weekly_digest" not in staff_client.get("/accounts/settings/").content.decode()
    staff_client.post("/accounts/settings/", {"timezone": "", "weekly_digest": "on"})
    assert not StaffProfile.objects.filter(user=outreach_staffer, weekly_digest=True).exists()
