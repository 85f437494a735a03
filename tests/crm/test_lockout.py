"""Failed sign-ins lock an account out from one address, and an address out after many; never
an account from everywhere. Counted in PostgreSQL (django-axes' database handler)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("postgres")

ATTACKER = "203.0.113.66"
COLLEAGUE = "198.51.100.7"
PROXY = "10.0.0.2"


def _sign_in(client: Client, username: str, password: str, address: str, **headers):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        **headers,
    )


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client: Client, username: str, address: str, times: int, **headers) -> None:
    for _attempt in range(times):
        _sign_in(client, username, "not the password", address, **headers)


def test_it_locks_the_account_out_from_that_address_after_five_failures(client, manager):
    for _attempt in range(4):
        response = _sign_in(client, manager.username, "wrong", ATTACKER)
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()

    response = _sign_in(client, manager.username, "wrong", ATTACKER)
    assert response.status_code == 429
    assert "Signing in is paused" in response.content.decode()

    response = _sign_in(client, manager.username, PASSWORD, ATTACKER)
    assert response.status_code == 429
    assert "try again in 15 minutes" in response.content.decode()
    assert response["Retry-After"] == "900"
    assert not _signed_in(client)
    failures = AccessAttempt.objects.get(username=manager.username, ip_address=ATTACKER)
    assert "not the password" not in failures.post_data
    assert PASSWORD not in failures.post_data


def test_it_lets_the_right_password_in_from_another_address(client, manager):
    _fail(client, manager.username, ATTACKER, 5)

    colleague = Client()
    response = _sign_in(colleague, manager.username, PASSWORD, COLLEAGUE)
    assert response.status_code == 302
    assert _signed_in(colleague)


def test_it_lets_other_accounts_in_from_an_address_below_its_own_limit(client, manager, organizer):
    _fail(client, manager.username, ATTACKER, 5)

    response = _sign_in(client, organizer.username, PASSWORD, ATTACKER)
    assert response.status_code == 302
    assert _signed_in(client)


def test_it_locks_out_an_address_that_tries_many_accounts(client, manager):
    # Four guesses each at five accounts: no account reaches five, the address reaches twenty.
    for name in ("ana", "ben", "cai", "dee", "eve"):
        _fail(client, name, ATTACKER, 4)

    response = _sign_in(client, manager.username, PASSWORD, ATTACKER)
    assert response.status_code == 429
    assert not _signed_in(client)
    assert _sign_in(Client(), manager.username, PASSWORD, COLLEAGUE).status_code == 302


def test_it_ignores_a_forged_forwarded_for_header_without_trusted_proxies(
    client, manager, settings
):
    settings.TRUSTED_PROXY_COUNT = 0
    for number in range(5):
        _fail(client, manager.username, ATTACKER, 1, HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")

    # A new forged address every time changed nothing: the attacker's own address is locked...
    response = _sign_in(
        client, manager.username, PASSWORD, ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.99"
    )
    assert response.status_code == 429
    # ...and naming a colleague's address locked the colleague out of nothing.
    colleague = Client()
    assert _sign_in(colleague, manager.username, PASSWORD, COLLEAGUE).status_code == 302
    assert AccessAttempt.objects.filter(ip_address=COLLEAGUE).count() == 0


def test_it_counts_the_address_the_trusted_proxy_saw(client, manager, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # Through one proxy: whatever the client wrote stands left of what the proxy appended.
    for number in range(5):
        _fail(
            client,
            manager.username,
            PROXY,
            1,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}, {COLLEAGUE}, {ATTACKER}",
        )

    response = _sign_in(
        client, manager.username, PASSWORD, PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.9, {ATTACKER}"
    )
    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    colleague = Client()
    response = _sign_in(
        colleague, manager.username, PASSWORD, PROXY, HTTP_X_FORWARDED_FOR=COLLEAGUE
    )
    assert response.status_code == 302


def test_it_counts_an_ipv6_client_by_its_64_block(client, manager):
    for number in range(5):
        _fail(client, manager.username, f"2001:db8:5:6::{number + 1}", 1)

    response = _sign_in(client, manager.username, PASSWORD, "2001:db8:5:6:abcd::1")
    assert response.status_code == 429
    assert _sign_in(Client(), manager.username, PASSWORD, "2001:db8:5:7::1").status_code == 302


def test_it_lets_the_account_in_again_after_the_cool_off(client, manager, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _fail(client, manager.username, ATTACKER, 5)
    with time_machine.travel(start + timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES + 1)):
        response = _sign_in(client, manager.username, PASSWORD, ATTACKER)
    assert response.status_code == 302
    assert _signed_in(client)


def test_it_keeps_the_lock_while_attempts_go_on_during_the_cool_off(client, manager, settings):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _fail(client, manager.username, ATTACKER, 5)
    with time_machine.travel(start + timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES - 1)):
        _fail(client, manager.username, ATTACKER, 1)
    with time_machine.travel(start + timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES + 1)):
        response = _sign_in(client, manager.username, PASSWORD, ATTACKER)
    assert response.status_code == 429


def test_it_forgives_an_accounts_failures_when_it_signs_in(client, manager):
    _fail(client, manager.username, ATTACKER, 4)
    assert _sign_in(client, manager.username, PASSWORD, ATTACKER).status_code == 302
    client.post(reverse("logout"))

    _fail(client, manager.username, ATTACKER, 4)
    assert _sign_in(client, manager.username, PASSWORD, ATTACKER).status_code == 302


def test_it_does_not_let_an_account_forgive_what_an_address_did_to_others(client, organizer):
    for name in ("ana", "ben", "cai", "dee"):
        _fail(client, name, ATTACKER, 4)
    _fail(client, organizer.username, ATTACKER, 1)
    # The attacker's own account signs in: only its own failure is forgiven.
    assert _sign_in(client, organizer.username, PASSWORD, ATTACKER).status_code == 302
    client.post(reverse("logout"))

    _fail(client, "fay", ATTACKER, 4)
    assert _sign_in(client, organizer.username, PASSWORD, ATTACKER).status_code == 429


def test_it_sends_the_admins_sign_in_to_the_one_sign_in_page(client, administrator):
    response = client.get(reverse("admin:index"), REMOTE_ADDR=ATTACKER, follow=True)
    assert response.redirect_chain[-1][0] == f"{reverse('login')}?next=/admin/"

    # The admin's own form, which would take a password without the code, is not there.
    response = client.post(
        reverse("admin:login"),
        {"username": administrator.username, "password": PASSWORD},
        REMOTE_ADDR=ATTACKER,
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not _signed_in(client)


def test_it_locks_out_of_the_admin_too(client, administrator):
    _fail(client, administrator.username, ATTACKER, 5)

    response = client.post(
        f"{reverse('login')}?next=/admin/",
        {"username": administrator.username, "password": PASSWORD, "next": "/admin/"},
        REMOTE_ADDR=ATTACKER,
    )
    assert response.status_code == 429
    assert client.get(reverse("admin:index"), REMOTE_ADDR=ATTACKER).status_code == 302
    assert not _signed_in(client)


def test_it_keeps_an_existing_session_of_a_locked_out_account(client, manager):
    # A lockout stops new sign-ins; whoever is signed in already (the real person, elsewhere)
    # carries on.
    client.force_login(manager)
    _fail(Client(), manager.username, ATTACKER, 5)
    assert client.get(reverse("crm:contact_list")).status_code == 200
    assert User.objects.get(pk=manager.pk).is_active


def test_it_lets_an_administrator_lift_a_lock_early(client, admin_client_, manager):
    _fail(client, manager.username, ATTACKER, 5)
    attempt = AccessAttempt.objects.get(username=manager.username)
    listing = admin_client_.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert manager.username in listing.content.decode()

    admin_client_.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert _sign_in(client, manager.username, PASSWORD, ATTACKER).status_code == 302
