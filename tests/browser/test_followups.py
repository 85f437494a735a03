"""In a browser: unsubscribing from an e-mail's link, and scheduling from a consultation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.models import Consent
from outreach.models import EmailTemplate, FollowUp
from outreach.unsubscribe import unsubscribe_url
from tests.browser.conftest import live, sign_in
from tests.factories import ContactFactory, UnionFactory

pytestmark = [pytest.mark.browser, live]


def test_it_unsubscribes_from_the_link_after_confirming(page, live_server):
    contact = ContactFactory.create(first_name="Ingrid", email_consent=Consent.GRANTED)
    link = unsubscribe_url(contact).replace("http://localhost:8000", live_server.url)
    page.goto(link)
    assert page.get_by_role("heading", name="Stop receiving our e-mails?").is_visible()
    contact.refresh_from_db()
    assert contact.email_consent == Consent.GRANTED  # opening the page changes nothing
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    contact.refresh_from_db()
    assert contact.email_consent == Consent.WITHDRAWN


def test_it_schedules_follow_ups_from_the_consultation_form(phone, live_server, outreach_staffer):
    union = UnionFactory.create(name="Teollisuusliitto", acronym="Teollisuusliitto", country="FI")
    ContactFactory.create(
        first_name="Päivi", last_name="Häkkinen", country="FI", timezone="Europe/Helsinki"
    )
    template = EmailTemplate.objects.get(name="Thank you after a consultation")
    sign_in(phone, live_server, outreach_staffer.username, next_path="/consultations/new/")
    phone.get_by_role("searchbox", name="Unions").fill("teollisuus")
    phone.get_by_role("button", name="Teollisuusliitto").click()
    phone.get_by_role("searchbox", name="People who attended").fill("hakkinen")
    phone.get_by_role("button", name="Päivi Häkkinen").click()
    phone.get_by_label("Support", exact=True).check()
    option = phone.locator("#id_follow_up_template option", has_text=template.name)
    assert "other languages get English" in option.inner_text()
    phone.get_by_label("E-mail", exact=True).select_option(str(template.pk))
    phone.get_by_label("On", exact=True).fill("2027-06-02")
    phone.get_by_label("At (each person's local time)").fill("09:00")
    phone.get_by_role("button", name="Save").click()
    phone.get_by_text("1 follow-up e-mail scheduled.").wait_for()
    followup = FollowUp.objects.get()
    assert followup.send_at == datetime(
        2027, 6, 2, 6, 0, tzinfo=UTC
    )  # 09:00 in Helsinki, summer time
    assert "Päivi Häkkinen" in phone.locator(".followups-of-consultation").inner_text()
    assert followup.consultation is not None
    assert followup.consultation.unions.get() == union
