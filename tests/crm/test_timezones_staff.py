"""Dates are entered and shown in the staff member's own time zone."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from crm import services
from crm.middleware import SESSION_KEY
from outreach.models import Consultation
from tests.conftest import PASSWORD
from tests.factories import UnionFactory

pytestmark = pytest.mark.django_db


def _log(client, starts_at: str):
    return client.post(
        reverse("outreach:consultation_create"),
        {
            "submission_key": str(uuid.uuid4()),
            "starts_at": starts_at,
            "status": "held",
            "format": "video",
            "position": "neutral",
            "unions": [str(UnionFactory.create().pk)],
            "new-TOTAL_FORMS": "0",
            "new-INITIAL_FORMS": "0",
        },
    )


def test_it_puts_the_chosen_zone_in_the_session_at_sign_in(client, outreach_staffer):
    services.staff_profile_update(user=outreach_staffer, timezone_name="America/New_York")
    client.post(reverse("login"), {"username": outreach_staffer.username, "password": PASSWORD})
    assert client.session[SESSION_KEY] == "America/New_York"


def test_it_reads_and_shows_times_in_the_staffers_zone(staff_client):
    session = staff_client.session
    session[SESSION_KEY] = "America/New_York"
    session.save()
    _log(staff_client, "2026-03-02T09:00")
    consultation = Consultation.objects.get()
    assert consultation.starts_at == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
    body = staff_client.get(consultation.get_absolute_url()).content.decode()
    assert 'datetime="2026-03-02T09:00:00-05:00"' in body


def test_it_uses_the_browsers_zone_until_one_is_chosen(staff_client):
    staff_client.cookies["tz"] = "Europe/Athens"
    _log(staff_client, "2026-07-01T10:00")
    assert Consultation.objects.get().starts_at == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)


def test_it_ignores_an_unknown_zone_in_the_cookie(staff_client):
    staff_client.cookies["tz"] = "Mars/Olympus"
    _log(staff_client, "2026-07-01T10:00")
    assert Consultation.objects.get().starts_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_it_explains_a_time_that_does_not_exist_in_the_zone(staff_client):
    session = staff_client.session
    session[SESSION_KEY] = "America/New_York"
    session.save()
    response = _log(staff_client, "2026-03-08T02:30")  # clocks jump from 2:00 to 3:00
    assert response.status_code == 200
    assert (
        "couldn’t be interpreted in time zone America/New_York"
        in response.context["form"].errors["starts_at"][0]
    )
    assert not Consultation.objects.exists()


def test_it_saves_my_settings(staff_client, outreach_staffer):
    response = staff_client.post(reverse("my_settings"), {"timezone": "Asia/Tokyo"})
    assert response.status_code == 302
    assert outreach_staffer.staff_profile.timezone == "Asia/Tokyo"
    assert staff_client.session[SESSION_KEY] == "Asia/Tokyo"
    assert (
        staff_client.post(reverse("my_settings"), {"timezone": "Nowhere/Land"}).status_code == 200
    )
