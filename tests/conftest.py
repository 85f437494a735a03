"""Shared fixtures: test settings, the personas, and access to the real services."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test import Client, override_settings
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm import roles
from crm.reauth import session_mark_confirmed

REQUIRE_SERVICES = os.environ.get("CRM_REQUIRE_SERVICES") == "1" or os.environ.get(
    "CI", ""
).lower() in {"1", "true"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--drills",
        action="store_true",
        help="collect the fault drills of tests/drills/ (make drills): they stop and restart "
        "this machine's PostgreSQL, so `make test` leaves them out",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.name == "drills" and not config.getoption("--drills"):
        return True
    return None


@pytest.fixture(autouse=True, scope="session")
def _test_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
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
        # Uploaded spreadsheets of the tests stay out of the developer's var/.
        IMPORT_DIR=tmp_path_factory.mktemp("imports"),
    )
    override.enable()
    yield
    override.disable()


@pytest.fixture(autouse=True, scope="session")
def _force_login_is_a_whole_sign_in() -> Iterator[None]:
    """Client.force_login stands for a whole, fresh sign-in: the password and, for a user with an
    authenticator, its code (as the code step marks the session), just now (exports open without
    "confirm it's you"). The sign-in steps themselves are tested through the pages."""
    original = Client.force_login

    def force_login(self: Client, user: Any, backend: str | None = None) -> None:
        original(self, user, backend)
        session = self.session
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None:
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session_mark_confirmed(session)
        session.save()

    Client.force_login = force_login  # type: ignore[method-assign,assignment]
    yield
    Client.force_login = original  # type: ignore[method-assign]


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
    """An administrator, with the authenticator administrators must have (its key is random)."""
    user = _user("ada.admin", roles.ADMINISTRATOR, is_staff=True)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user


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


# A real SMTP server on loopback that records what it receives.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse_with: str | None = None  # an SMTP reply, e.g. "550 no such user"
        self.drop_after_data = False  # take the message, then hang up without answering
        self.greetings = 0  # EHLOs: one per connection

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.refuse_with:
            return self.refuse_with
        self.messages.append(message_from_bytes(envelope.content, policy=email_policy.default))
        if self.drop_after_data:
            server.transport.close()
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.messages]


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler
    controller: Any

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def stop(self) -> None:
        self.controller.stop()

    def start(self) -> None:
        """Start again on the same port (a stopped controller cannot be restarted)."""
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.handler, hostname=self.host, port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        # A short timeout, so that the "lost while sending" window of the tests can be short too.
        return f"smtp://{self.host}:{self.port}?timeout=2"


@pytest.fixture
def smtp_server(settings) -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    server = SmtpServer(host="127.0.0.1", port=port, handler=handler, controller=controller)
    yield server
    with suppress(AssertionError, RuntimeError):  # stopped by the test already
        server.controller.stop()


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Tasks run in the test's own process, as soon as they are enqueued (after commit)."""
    from crm.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    app.conf.task_eager_propagates = False
