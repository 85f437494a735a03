"""The contact admin: consents shown with their record, never edited there."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm import services
from crm.models import Consent
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_it_shows_the_consent_records_and_keeps_the_consent_out_of_reach(admin_client_):
    contact = ContactFactory.create(email_consent=Consent.GRANTED)
    services.contact_email_opt_out(
        contact=contact, source="unsubscribe", question="Stop receiving our e-mails?"
    )
    url = reverse("admin:crm_contact_change", args=[contact.pk])
    page = admin_client_.get(url).content.decode()
    assert "Stop receiving our e-mails?" in page
    assert 'name="last_name"' in page
    assert 'name="email_consent"' not in page  # shown, not editable
    assert 'name="consent_records-0-question"' not in page
