"""Sessions end after SESSION_IDLE_MINUTES without activity and SESSION_MAX_HOURS in all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from crm.middleware import SEEN_KEY, STARTED_KEY
from tests.conftest import PASSWORD
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CONTACTS = "/contacts/"


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def signed_in(client, outreach_staffer, clock):
    response = client.post(
        reverse("login"), {"username": outreach_staffer.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    return client


def _signed_out_to(response, next_path: str | None = CONTACTS) -> str:
    assert response.status_code == 302
    login = reverse("login")
    assert response["Location"] == (f"{login}?next={next_path}" if next_path else login)
    return response["Location"]


def test_it_keeps_a_session_in_use_alive(signed_in, clock):
    for _step in range(8):  # four hours, a request every 29 minutes
        clock.shift(timedelta(minutes=29))
        assert signed_in.get(CONTACTS).status_code == 200


def test_it_signs_out_after_the_idle_limit_and_says_why(signed_in, clock):
    assert signed_in.get(CONTACTS).status_code == 200
    clock.shift(timedelta(minutes=31))
    location = _signed_out_to(signed_in.get(CONTACTS))
    page = signed_in.get(location).content.decode()
    assert "You were signed out after 30 minutes without activity." in page
    assert "_auth_user_id" not in signed_in.session
    _signed_out_to(signed_in.get(CONTACTS))  # and stays signed out


def test_it_signs_out_after_the_absolute_limit_however_busy(signed_in, clock):
    for _step in range(35):  # 11 h 40 min of a request every 20 minutes
        clock.shift(timedelta(minutes=20))
        assert signed_in.get(CONTACTS).status_code == 200
    clock.shift(timedelta(minutes=21))
    location = _signed_out_to(signed_in.get(CONTACTS))
    assert "You were signed out after 12 hours." in signed_in.get(location).content.decode()


def test_it_reads_the_limits_from_the_settings(signed_in, clock, settings):
    settings.SESSION_IDLE_MINUTES = 5
    clock.shift(timedelta(minutes=4))
    assert signed_in.get(CONTACTS).status_code == 200
    clock.shift(timedelta(minutes=6))
    _signed_out_to(signed_in.get(CONTACTS))


def test_it_sends_a_fragment_request_to_sign_in_as_a_whole_page(signed_in, clock):
    clock.shift(timedelta(minutes=31))
    response = signed_in.get(CONTACTS, {"q": "anna"}, headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == reverse("login")


def test_it_saves_nothing_posted_after_the_limit(signed_in, clock, organizer):
    membership = MembershipFactory.create()
    signed_in.logout()
    signed_in.post(reverse("login"), {"username": organizer.username, "password": PASSWORD})
    clock.shift(timedelta(minutes=31))
    response = signed_in.post(reverse("crm:membership_end", args=[membership.pk]))
    _signed_out_to(response, next_path=None)
    membership.refresh_from_db()
    assert membership.end_date is None


def test_it_counts_from_sign_in_however_the_user_signed_in(client, outreach_staffer):
    with time_machine.travel(START, tick=False) as clock:
        client.force_login(outreach_staffer)  # as the admin's sign-in: not through the page
        clock.shift(timedelta(minutes=31))
        _signed_out_to(client.get(CONTACTS))


def test_it_counts_a_session_from_before_the_limits_from_its_next_request(client, outreach_staffer):
    with time_machine.travel(START, tick=False) as clock:
        client.force_login(outreach_staffer)
        session = client.session
        del session[STARTED_KEY], session[SEEN_KEY]
        session.save()
        clock.shift(timedelta(hours=11, minutes=50))  # idle, but its idleness was not counted
        assert client.get(CONTACTS).status_code == 200
        clock.shift(timedelta(minutes=20))  # past 12 hours since sign-in, not since counting
        assert client.get(CONTACTS).status_code == 200
        clock.shift(timedelta(minutes=31))
        _signed_out_to(client.get(CONTACTS))
