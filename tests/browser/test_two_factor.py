"""An administrator's first sign-in sets up an authenticator; the next asks for its code."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group, User
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm import roles
from tests.browser.conftest import live
from tests.conftest import PASSWORD
from tests.totp import totp_code

pytestmark = [pytest.mark.browser, live]


def _password(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_it_makes_an_administrator_set_up_an_authenticator_then_asks_for_codes(page, live_server):
    admin = User.objects.create_user(username="ines.admin", password=PASSWORD, is_staff=True)
    admin.groups.add(Group.objects.get(name=roles.ADMINISTRATOR))

    _password(page, live_server, admin.username)
    # Sent to the set-up before anything else, the admin included.
    assert page.url.startswith(f"{live_server.url}/accounts/two-factor/?next=")
    page.goto(f"{live_server.url}/admin/")
    assert page.url.startswith(f"{live_server.url}/accounts/two-factor/?next=/admin/")
    assert page.get_by_role("img", name="QR code to add this CRM to your authenticator app")
    assert page.locator(".qr-code svg").is_visible()
    secret = page.get_by_test_id("totp-secret").inner_text()

    page.get_by_label("Code from your authenticator app").fill(totp_code(secret))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    assert page.url == f"{live_server.url}/admin/"
    assert page.get_by_role("heading", name="Site administration").is_visible()
    assert TOTPDevice.objects.get(user=admin).confirmed

    page.goto(f"{live_server.url}/accounts/settings/")
    page.locator("summary", has_text=admin.username).click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()

    _password(page, live_server, admin.username)
    assert page.url == f"{live_server.url}/accounts/login/code/"
    # The code just used is spent: the app's next one (the server allows one step of drift).
    page.get_by_label("Code from your authenticator app").fill(
        totp_code(secret, at=time.time() + 30)
    )
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()
    assert page.url == f"{live_server.url}/consultations/new/"
    page.goto(f"{live_server.url}/admin/")
    assert page.get_by_role("heading", name="Site administration").is_visible()
