"""An outreach staffer logs a meeting on a phone and finds it on the person's timeline."""

from __future__ import annotations

import pytest

from outreach.models import Consultation
from tests.browser.conftest import live, sign_in
from tests.factories import ContactFactory, UnionFactory

pytestmark = [pytest.mark.browser, live]


def test_it_logs_a_meeting_on_a_phone(phone, live_server, outreach_staffer):
    union = UnionFactory.create(name="IF Metall", acronym="IF Metall", country="SE")
    UnionFactory.create(name="Dansk Metal", acronym="Dansk Metal", country="DK")
    known = ContactFactory.create(first_name="Åsa", last_name="Öberg", country="SE")
    sign_in(phone, live_server, outreach_staffer.username, next_path="/consultations/new/")

    phone.get_by_role("searchbox", name="Unions").fill("if met")
    phone.get_by_role("button", name="IF Metall").click()
    assert phone.locator("#picked-unions .chip").count() == 1

    phone.get_by_role("searchbox", name="People who attended").fill("oberg")
    phone.get_by_role("button", name="Åsa Öberg").click()
    phone.locator("#picked-attendees select").select_option("speaker")

    phone.get_by_role("button", name="Add someone new").click()
    phone.get_by_label("First name").fill("Björn")
    phone.get_by_label("Last name").fill("Nyström")

    phone.get_by_label("Welding qualification and certification").check()
    phone.get_by_label("Lean production and continuous improvement").check()
    phone.get_by_label("Conditional support").check()
    phone.get_by_label("Summary").fill("Interested if certificates are recognised both ways.")
    phone.get_by_role("button", name="Save").dblclick()

    phone.get_by_role("heading", name="In person – IF Metall").wait_for()
    consultation = Consultation.objects.get()
    assert consultation.position == "conditional_support"
    assert sorted(consultation.attendances.values_list("contact__last_name", "role")) == [
        ("Nyström", "participant"),
        ("Öberg", "speaker"),
    ]
    assert list(consultation.unions.all()) == [union]

    phone.goto(f"{live_server.url}{known.get_absolute_url()}")
    timeline = phone.locator(".timeline")
    assert consultation.title in timeline.inner_text()
    assert "(Speaker)" in timeline.inner_text()
