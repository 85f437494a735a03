"""Each demo login signs in and sees only its role's navigation; others are turned away."""

from __future__ import annotations

import pytest

from crm.demo import DEMO_PASSWORD, DEMO_USERS, demo_users_ensure
from tests.browser.conftest import live, sign_in

pytestmark = [pytest.mark.browser, live]

# The logins `make run` prints, and what each one's navigation shows.
EXPECTED_NAV = {
    "outreach": ["log", "consultations", "followups", "comments", "contacts", "unions"],
    "organizer": ["consultations", "contacts", "unions", "employers", "imports"],
    "manager": [
        "consultations",
        "followups",
        "comments",
        "reports",
        "contacts",
        "unions",
        "employers",
    ],
    "admin": [
        "log",
        "consultations",
        "followups",
        "comments",
        "reports",
        "contacts",
        "unions",
        "employers",
        "imports",
        "access",
        "admin",
    ],
}
# Where signing in lands: the first item of the navigation.
LANDING = {
    "outreach": "/consultations/new/",
    "organizer": "/consultations/",
    "manager": "/consultations/",
    "admin": "/consultations/new/",
}
CAN_ADD_CONTACTS = {"organizer", "admin"}


def test_it_covers_every_demo_login():
    assert sorted(EXPECTED_NAV) == sorted(username for username, _role in DEMO_USERS)


@pytest.mark.parametrize("username", list(EXPECTED_NAV))
def test_it_shows_each_demo_role_its_own_navigation(page, live_server, username):
    demo_users_ensure()
    sign_in(page, live_server, username, password=DEMO_PASSWORD)
    assert page.url == f"{live_server.url}{LANDING[username]}"
    page.goto(f"{live_server.url}/contacts/")
    nav = page.locator("[data-nav]").evaluate_all("links => links.map(link => link.dataset.nav)")
    assert nav == EXPECTED_NAV[username]
    assert page.get_by_role("button", name="New contact").count() == (
        1 if username in CAN_ADD_CONTACTS else 0
    )


def test_it_shows_the_no_access_page_to_an_outsider(page, live_server, outsider):
    sign_in(page, live_server, outsider.username)
    assert page.get_by_role("heading", name="No access").is_visible()
    assert "no role yet" in page.locator("[data-testid=no-access]").inner_text()
    assert page.locator("[data-nav]").count() == 0


def test_it_sends_anonymous_visitors_to_login_and_back(page, live_server, manager):
    page.goto(f"{live_server.url}/unions/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(manager.username)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    sign_in(page, live_server, manager.username, next_path="/unions/")
    assert page.url == f"{live_server.url}/unions/"
