"""Shared fixtures: test settings, the personas, and access to the real services."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test import Client, override_settings

from crm import roles

REQUIRE_SERVICES = os.environ.get("CRM_REQUIRE_SERVICES") == "1" or os.environ.get(
    "CI", ""
).lower() in {"1", "true"}


@pytest.fixture(autouse=True, scope="session")
def _test_settings() -> Iterator[None]:
    # Production defaults (HTTPS redirect, HSTS, secure cookies, hashed static files) get in the
    # way of the test client and the live server on plain http://localhost. Session-wide, so that
    # the live server's middleware, built once, sees them too.
    override = override_settings(
        SECURE_SSL_REDIRECT=False,
        SECURE_HSTS_SECONDS=0,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        STORAGES={
            **django_settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    )
    override.enable()
    yield
    override.disable()


def _require(what: str, ok: bool) -> None:
    if ok:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required under CI but is not configured or not reachable")
    pytest.skip(f"{what} is not available")


@pytest.fixture
def postgres(db) -> None:
    """The test runs only on PostgreSQL (the production database)."""
    _require("PostgreSQL (DATABASE_URL)", connection.vendor == "postgresql")


def _redis_reachable(url: str) -> bool:
    if not url.startswith("redis"):
        return False
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1
        ):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    url = django_settings.REDIS_URL
    _require("Redis (REDIS_URL)", bool(url) and _redis_reachable(url))
    return url


@pytest.fixture
def redis_broker() -> str:
    url = django_settings.CELERY_BROKER_URL
    _require("Redis broker (CELERY_BROKER_URL)", _redis_reachable(url))
    return url


# Personas: one user per role, and an outsider who has an account but no role.

PASSWORD = "correct horse battery staple"


def _user(username: str, role: str | None, *, is_staff: bool = False) -> User:
    user = User.objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@example.org"
    )
    user.is_staff = is_staff
    user.save()
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def outreach_staffer(db) -> User:
    return _user("olga.outreach", roles.OUTREACH_STAFF)


@pytest.fixture
def organizer(db) -> User:
    return _user("omar.organizer", roles.ORGANIZER)


@pytest.fixture
def manager(db) -> User:
    return _user("mia.manager", roles.MANAGER)


@pytest.fixture
def administrator(db) -> User:
    return _user("ada.admin", roles.ADMINISTRATOR, is_staff=True)


@pytest.fixture
def outsider(db) -> User:
    return _user("otto.outsider", None)


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(outreach_staffer) -> Client:
    return _client_for(outreach_staffer)


@pytest.fixture
def organizer_client(organizer) -> Client:
    return _client_for(organizer)


@pytest.fixture
def manager_client(manager) -> Client:
    return _client_for(manager)


@pytest.fixture
def admin_client_(administrator) -> Client:
    return _client_for(administrator)


@pytest.fixture
def outsider_client(outsider) -> Client:
    return _client_for(outsider)


@contextmanager
def rolled_back_module_data(django_db_blocker) -> Iterator[None]:
    """Data made once for a module, in an outer transaction rolled back at the end (as Django's
    setUpTestData does): tests run inside it in savepoints, and nothing is deleted row by row."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
