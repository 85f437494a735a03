"""An organizer adds a contact from a phone, then finds it with search-as-you-type."""

from __future__ import annotations

import pytest

from crm.models import Contact
from tests.browser.conftest import live, sign_in
from tests.factories import ContactFactory, UnionFactory

pytestmark = [pytest.mark.browser, live]


def test_it_adds_a_contact_on_a_phone_and_finds_it(phone, live_server, organizer):
    union = UnionFactory.create(
        name="Sekretariat Metalowców NSZZ Solidarność",
        acronym="Solidarność Metalowcy",
        country="PL",
    )
    ContactFactory.create(first_name="Anna", last_name="Nowak")
    sign_in(phone, live_server, organizer.username, next_path="/contacts/new/")
    phone.get_by_label("First name").fill("Małgorzata")
    phone.get_by_label("Last name").fill("Wiśniewska")
    phone.get_by_label("Email", exact=True).fill("m.wisniewska@example.pl")
    phone.get_by_label("Phone").fill("601 234 567")
    phone.get_by_label("Country").select_option("PL")
    phone.get_by_label("Trade").select_option("welder")
    phone.get_by_label("Union", exact=True).select_option(str(union.pk))
    phone.get_by_label("Role in the union").select_option("shop_steward")
    phone.get_by_label("Tags").fill("site visit, Stalowa Wola")
    phone.get_by_role("button", name="Save").click()

    phone.get_by_role("heading", name="Małgorzata Wiśniewska").wait_for()
    assert "+48601234567" in phone.content()
    assert "Europe/Warsaw" in phone.content()
    contact = Contact.objects.get(email="m.wisniewska@example.pl")
    assert contact.created_by == organizer

    phone.goto(f"{live_server.url}/contacts/")
    phone.get_by_role("searchbox", name="Search").fill("wisniew")  # no accent typed: still found
    phone.wait_for_url("**/contacts/?q=wisniew**")
    phone.get_by_text("1 contact", exact=True).wait_for()
    assert phone.get_by_role("link", name="Małgorzata Wiśniewska").is_visible()
    assert phone.get_by_role("link", name="Anna Nowak").count() == 0


def test_it_shows_form_errors_next_to_the_field(page, live_server, organizer):
    ContactFactory.create(email="taken@example.org")
    sign_in(page, live_server, organizer.username, next_path="/contacts/new/")
    page.get_by_label("Last name").fill("Duplicate")
    page.get_by_label("Email", exact=True).fill("Taken@Example.org")
    page.get_by_role("button", name="Save").click()
    error = page.locator("#id_email_error")
    assert error.inner_text() == "A contact with this email address exists already."
    assert page.get_by_label("Email", exact=True).get_attribute("aria-invalid") == "true"
