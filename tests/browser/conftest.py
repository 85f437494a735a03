"""Playwright driving Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, REQUIRE_SERVICES
from tests.totp import device_code

# Playwright's sync API keeps an event loop in this thread; the ORM calls of the test itself
# (creating personas and checking what was stored) are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Browser tests need a committed database (the live server runs in another thread); the
# serialized rollback restores the roles and reference data that migrations created.
live = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if REQUIRE_SERVICES:
            pytest.fail("Chromium is required under CI: run `make chromium`")
        pytest.skip("Chromium is not installed (make chromium)")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    snapshots = {
        alias: getattr(connections[alias], "_test_serialized_contents", None)
        for alias in connections
    }
    with sync_playwright() as playwright:
        # Playwright's sync API leaves an event loop running in this thread, and from then on
        # asgiref hands Django a fresh connection object per context. The serialized snapshot
        # that `serialized_rollback` restores lives on the old object: carry it over.
        for alias, contents in snapshots.items():
            if contents is not None:
                connections[alias]._test_serialized_contents = contents  # type: ignore[attr-defined]
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def phone(browser):
    """A phone-sized screen with touch, as outreach staff use in the field."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def ensure_authenticator(username: str) -> None:
    """An administrator gets an authenticator before signing in (they must have one; the set-up
    itself is tested in test_two_factor.py)."""
    from django.contrib.auth.models import User
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from crm.twofactor import two_factor_status

    user = User.objects.get(username=username)
    status = two_factor_status(user=user)
    if status.required and not status.has_device:
        TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def enter_code(page, username: str) -> None:
    """Type what the user's authenticator app shows, on the sign-in's code step."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user__username=username, confirmed=True)
    page.get_by_label("Code from your authenticator app").fill(device_code(device))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()


def sign_in(
    page, live_server, username: str, next_path: str = "/", password: str = PASSWORD
) -> None:
    ensure_authenticator(username)
    page.goto(f"{live_server.url}{next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if page.url.startswith(f"{live_server.url}/accounts/login/code/"):
        enter_code(page, username)
