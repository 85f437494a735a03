"""Exports ask "is it still you?" past REAUTH_MINUTES since the password was last given."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import ImportJob
from tests.conftest import PASSWORD
from tests.factories import ContactFactory
from tests.totp import device_code

pytestmark = pytest.mark.django_db

EXPORT = "/contacts/export.csv?q=ada"


def _later(settings, minutes: int = 1):
    return time_machine.travel(
        timezone.now() + timedelta(minutes=settings.REAUTH_MINUTES + minutes), tick=False
    )


def _confirm(client: Client, **data: str):
    return client.post(reverse("confirm_identity"), data, REMOTE_ADDR="192.0.2.20")


def test_it_exports_right_after_signing_in_on_the_sign_in_page(client, manager):
    client.post(reverse("login"), {"username": manager.username, "password": PASSWORD})
    response = client.get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")


def test_it_asks_for_the_password_again_after_the_set_minutes(manager_client, settings):
    with _later(settings, minutes=-1):
        assert manager_client.get(EXPORT).status_code == 200
    with _later(settings):
        response = manager_client.get(EXPORT)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('confirm_identity')}?next={quote(EXPORT, safe='/')}"


def test_it_goes_back_to_the_export_once_confirmed(manager_client, settings):
    with _later(settings):
        page = manager_client.get(manager_client.get(EXPORT)["Location"])
        assert "Confirm it's you" in page.content.decode()
        response = _confirm(manager_client, password=PASSWORD, next=EXPORT)
        assert response["Location"] == EXPORT
        assert manager_client.get(EXPORT).status_code == 200


def test_it_refuses_a_wrong_password(manager_client, settings):
    with _later(settings):
        response = _confirm(manager_client, password="not my password", next=EXPORT)
        assert response.status_code == 200
        assert "That password is not right." in response.content.decode()
        assert manager_client.get(EXPORT).status_code == 302


def test_it_asks_for_the_code_too_when_the_user_has_an_authenticator(manager, client, settings):
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    client.force_login(manager)
    with _later(settings):
        page = client.get(f"{reverse('confirm_identity')}?next={EXPORT}")
        assert "Code from your authenticator app" in page.content.decode()
        assert _confirm(client, password=PASSWORD, next=EXPORT).status_code == 200
        wrong = f"{(int(device_code(device)) + 1) % 1_000_000:06d}"
        response = _confirm(client, password=PASSWORD, code=wrong, next=EXPORT)
        assert "That code is not right" in response.content.decode()
        assert client.get(EXPORT).status_code == 302
    with _later(settings, minutes=2):
        response = _confirm(client, password=PASSWORD, code=device_code(device), next=EXPORT)
        assert response["Location"] == EXPORT


@pytest.mark.parametrize(
    "elsewhere", ["https://evil.example/", "//evil.example/", "javascript:alert(1)"]
)
def test_it_goes_nowhere_outside_the_site(manager_client, settings, elsewhere):
    with _later(settings):
        response = _confirm(manager_client, password=PASSWORD, next=elsewhere)
    assert response["Location"] == reverse("home")


def test_it_locks_out_after_repeated_wrong_passwords(postgres, manager_client, settings):
    with _later(settings):
        for _attempt in range(4):
            assert _confirm(manager_client, password="guess", next=EXPORT).status_code == 200
        response = _confirm(manager_client, password="guess", next=EXPORT)
        assert response.status_code == 429
        assert _confirm(manager_client, password=PASSWORD, next=EXPORT).status_code == 429


# A person's data handed out whole, or erased: the same confirmation as an export.
PRIVACY = {
    "subject-export": "crm:contact_subject_export",
    "subject-report": "crm:contact_subject_report",
    "erase": "crm:contact_erase",
}


@pytest.mark.parametrize(
    "url",
    [
        "/contacts/export.csv",
        "/contacts/export.xlsx",
        "/unions/export.csv",
        "/unions/export.xlsx",
        "/consultations/export.csv",
        "/consultations/export.xlsx",
        "/reports/summary.csv",
        "/reports/by_country.xlsx",
        "/reports/consultations.csv",
        "/admin/crm/contact/export/",
        "import-errors",
        "subject-export",
        "subject-report",
        "erase",
    ],
)
def test_it_guards_every_export(admin_client_, administrator, settings, url):
    if url in PRIVACY:
        url = reverse(PRIVACY[url], args=[ContactFactory.create().pk])
    if url == "import-errors":
        job = ImportJob.objects.create(
            source=ImportJob.Source.WEB, created_by=administrator, file_name="people.csv"
        )
        url = reverse("crm:import_errors", args=[job.pk])
    with _later(settings):
        response = admin_client_.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('confirm_identity')}?next=")


def test_it_asks_nothing_of_a_user_without_the_permission(staff_client, settings):
    # The permission comes first: no password prompt for a page that would be refused anyway.
    with _later(settings):
        assert staff_client.get(EXPORT).status_code == 403
