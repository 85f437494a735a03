"""An administrator hands a person their data, erases them, and sees only the tombstone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crm.models import Contact, ContactErasure
from tests.browser.conftest import live, sign_in
from tests.factories import ConsultationFactory, ContactFactory

pytestmark = [pytest.mark.browser, live]


def test_it_downloads_a_persons_data_then_erases_them(page, live_server, administrator):
    contact = ContactFactory.create(
        first_name="Søren", last_name="Kierkegaard-Holm", email="soren@metal.example"
    )
    ConsultationFactory.create(title="Odense yard visit").attendees.add(contact)
    sign_in(page, live_server, administrator.username, next_path=f"/contacts/{contact.pk}/")
    page.get_by_role("heading", name="Søren Kierkegaard-Holm").wait_for()

    page.get_by_role("link", name="Data held (subject access)").click()
    page.get_by_role("heading", name="Data held about Søren Kierkegaard-Holm").wait_for()
    assert page.get_by_role("heading", name="Odense yard visit").is_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as JSON").click()
    data = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    assert data["profile"]["email"] == "soren@metal.example"
    assert data["consultations"][0]["title"] == "Odense yard visit"

    page.get_by_role("link", name="Back to the record").click()
    page.get_by_role("link", name="Erase…").click()
    page.get_by_label("Type the person's full name, or ERASE").fill("Soren")
    page.get_by_role("button", name="Erase this person").click()
    page.get_by_text("This is neither the person's full name nor ERASE.").wait_for()
    page.get_by_label("Type the person's full name, or ERASE").fill("ERASE")
    page.get_by_label("Reason").fill("Asked in person at the yard")
    page.get_by_role("button", name="Erase this person").click()

    page.get_by_role("heading", name=f"Erased contact #{contact.pk}").wait_for()
    tombstone = page.get_by_test_id("erasure")
    assert "This person was erased on" in tombstone.inner_text()
    assert "ada.admin" in tombstone.inner_text()
    assert "Søren" not in page.content()
    assert "soren@metal.example" not in page.content()
    assert Contact.objects.get(pk=contact.pk).email == ""
    assert ContactErasure.objects.get().contact_id == contact.pk

    page.goto(f"{live_server.url}/privacy/erasures/")
    assert page.get_by_role("link", name=f"#{contact.pk}").is_visible()
