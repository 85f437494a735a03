"""Two-factor sign-in: optional for staff, required for administrators, a code after the
password, codes refused when wrong, reused or guessed at."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm import roles
from tests.conftest import PASSWORD
from tests.totp import device_code, totp_code

pytestmark = pytest.mark.django_db

ADDRESS = "192.0.2.10"


def _password(client: Client, user: User, next_path: str = ""):
    url = reverse("login") + (f"?next={next_path}" if next_path else "")
    return client.post(
        url,
        {"username": user.username, "password": PASSWORD, "next": next_path},
        REMOTE_ADDR=ADDRESS,
    )


def _code(client: Client, code: str):
    return client.post(reverse("login_code"), {"code": code}, REMOTE_ADDR=ADDRESS)


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def phone(manager) -> TOTPDevice:
    """The manager's authenticator app."""
    return TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)


@pytest.fixture
def new_admin(db) -> User:
    """An administrator who has not set up an authenticator yet."""
    user = User.objects.create_user(username="nia.newadmin", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=roles.ADMINISTRATOR))
    return user


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _secret(response) -> str:
    match = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', response.content.decode())
    assert match, "the set-up page shows the secret"
    return match.group(1)


# Signing in with a code


def test_it_asks_for_the_code_after_the_password(client, manager, phone):
    response = _password(client, manager, "/unions/")
    assert response.status_code == 302
    assert response["Location"] == reverse("login_code")
    # The password alone opens nothing.
    assert not _signed_in(client)
    assert client.get(reverse("crm:union_list"))["Location"].startswith(reverse("login"))

    page = client.get(reverse("login_code"))
    assert "Code from your authenticator app" in page.content.decode()
    response = _code(client, device_code(phone))
    assert response.status_code == 302
    assert response["Location"] == "/unions/"
    assert _signed_in(client)
    assert client.get(reverse("crm:union_list")).status_code == 200


def test_it_takes_the_code_with_the_spaces_apps_show(client, manager, phone):
    _password(client, manager)
    code = device_code(phone)
    assert _code(client, f"{code[:3]} {code[3:]}").status_code == 302
    assert _signed_in(client)


def test_it_refuses_a_wrong_code_with_a_clear_message(client, manager, phone):
    _password(client, manager)
    response = _code(client, _wrong(device_code(phone)))
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert not _signed_in(client)

    response = _code(client, "12ab")
    assert "Enter the 6 digits your app shows." in response.content.decode()


def test_it_makes_a_guesser_wait_after_a_wrong_code(client, manager, phone):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _password(client, manager)
        _code(client, _wrong(device_code(phone)))
        response = _code(client, device_code(phone))
        assert "Too many wrong codes: wait 1 second and try again." in response.content.decode()
        assert not _signed_in(client)
    with time_machine.travel(start + timedelta(seconds=2), tick=False):
        assert _code(client, device_code(phone)).status_code == 302
    assert _signed_in(client)


def test_it_locks_out_after_five_wrong_codes_like_passwords(postgres, client, manager, phone):
    _password(client, manager)
    wrong = _wrong(device_code(phone))
    for _attempt in range(4):
        assert _code(client, wrong).status_code == 200
    response = _code(client, wrong)
    assert response.status_code == 429
    assert "Signing in is paused" in response.content.decode()

    # Neither the right code nor the password again gets through from that address.
    assert _code(client, device_code(phone)).status_code == 429
    assert _password(client, manager).status_code == 429
    assert not _signed_in(client)


def test_it_accepts_a_code_only_once(client, manager, phone):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _password(client, manager)
        code = device_code(phone)
        assert _code(client, code).status_code == 302
        client.post(reverse("logout"))

        _password(client, manager)
        response = _code(client, code)
    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert not _signed_in(client)


def test_it_starts_again_from_the_password_when_the_code_step_is_left_open(client, manager, phone):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        _password(client, manager)
    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        response = _code(client, device_code(phone))
    assert response["Location"] == reverse("login")
    assert not _signed_in(client)


def test_it_signs_out_a_session_that_never_gave_the_code(client, manager):
    client.force_login(manager)
    # An authenticator added since this session signed in (e.g. on another browser).
    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)

    response = client.get(reverse("crm:union_list"))
    assert response["Location"] == f"{reverse('login')}?next=/unions/"
    assert not _signed_in(client)


def test_it_lets_staff_without_an_authenticator_work(staff_client):
    assert staff_client.get(reverse("crm:union_list")).status_code == 200


# Administrators must have an authenticator


def test_it_sends_an_administrator_without_one_to_set_it_up_first(client, new_admin):
    response = _password(client, new_admin, "/contacts/")
    assert response["Location"] == "/contacts/"
    for path in ("/contacts/", "/admin/", "/admin/auth/user/", reverse("my_settings")):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(f"{reverse('two_factor_setup')}?next="), path

    page = client.get(response["Location"])
    text = page.content.decode()
    assert "Administrators sign in with a password and a code" in text
    # The QR code is drawn on the server as SVG: no script, no inline style.
    svg = text[text.index("<svg") : text.index("</svg>")]
    assert "<path" in svg
    assert "style=" not in svg
    assert "<script" not in svg
    assert "<script>" not in text
    assert " style=" not in text

    response = client.post(
        reverse("two_factor_setup"),
        {"code": totp_code(_secret(page)), "next": "/admin/"},
        REMOTE_ADDR=ADDRESS,
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert TOTPDevice.objects.get(user=new_admin).confirmed


def test_it_sends_an_htmx_request_to_set_up_with_a_full_page_load(client, new_admin):
    client.force_login(new_admin)
    response = client.get(reverse("outreach:search_unions"), {"q": "x"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("two_factor_setup"))


def test_it_treats_a_superuser_as_an_administrator(client):
    root = User.objects.create_superuser("root", "root@example.org", PASSWORD)
    client.force_login(root)
    response = client.get("/admin/")
    assert response["Location"].startswith(reverse("two_factor_setup"))


def test_it_asks_an_administrator_with_one_for_the_code(client, administrator):
    device = TOTPDevice.objects.get(user=administrator)
    assert _password(client, administrator, "/admin/")["Location"] == reverse("login_code")
    assert _code(client, device_code(device))["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_it_keeps_an_administrator_from_turning_it_off(admin_client_, administrator):
    page = admin_client_.get(reverse("my_settings")).content.decode()
    assert "Set up a new phone" in page
    assert reverse("two_factor_remove") not in page

    response = admin_client_.post(reverse("two_factor_remove"), follow=True)
    assert "Administrators must sign in with an authenticator app." in response.content.decode()
    assert TOTPDevice.objects.filter(user=administrator, confirmed=True).exists()


# Setting one up


def test_it_lets_any_role_turn_it_on_from_my_settings(staff_client, outreach_staffer):
    settings_page = staff_client.get(reverse("my_settings")).content.decode()
    assert "Off: signing in asks for your password only." in settings_page
    assert reverse("two_factor_setup") in settings_page

    page = staff_client.get(reverse("two_factor_setup"))
    # Reloading shows the same secret: the one already scanned stays good.
    assert _secret(staff_client.get(reverse("two_factor_setup"))) == _secret(page)

    wrong = staff_client.post(
        reverse("two_factor_setup"), {"code": _wrong(totp_code(_secret(page)))}
    )
    assert "That code is not right" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=outreach_staffer, confirmed=True).exists()

    with time_machine.travel(timezone.now() + timedelta(seconds=2), tick=False):
        response = staff_client.post(
            reverse("two_factor_setup"), {"code": totp_code(_secret(page))}
        )
    assert response["Location"] == reverse("my_settings")
    settings_page = staff_client.get(reverse("my_settings")).content.decode()
    assert "Two-factor sign-in is on." in settings_page
    assert "On: signing in asks for your password and a code" in settings_page


def test_it_replaces_the_old_phone_once_the_new_one_is_confirmed(phone, manager_client, manager):
    page = manager_client.get(reverse("two_factor_setup"))
    assert "Set up your new phone." in page.content.decode()
    assert TOTPDevice.objects.filter(user=manager).count() == 2  # the old one still works

    manager_client.post(reverse("two_factor_setup"), {"code": totp_code(_secret(page))})
    (device,) = TOTPDevice.objects.filter(user=manager)
    assert device.confirmed
    assert device.pk != phone.pk


def test_it_lets_staff_turn_it_off(phone, manager_client, manager):
    page = manager_client.get(reverse("two_factor_remove"))
    assert "Turn off two-factor sign-in?" in page.content.decode()
    response = manager_client.post(reverse("two_factor_remove"))
    assert response["Location"] == reverse("my_settings")
    assert not TOTPDevice.objects.filter(user=manager).exists()


def test_it_asks_for_the_password_again_before_changing_the_authenticator(
    phone, manager_client, settings
):
    later = timezone.now() + timedelta(minutes=settings.REAUTH_MINUTES + 1)
    with time_machine.travel(later, tick=False):
        for name in ("two_factor_setup", "two_factor_remove"):
            response = manager_client.get(reverse(name))
            assert response["Location"].startswith(reverse("confirm_identity")), name


def test_it_lets_an_administrator_remove_a_colleagues_lost_authenticator(
    phone, admin_client_, manager
):
    page = admin_client_.get(f"/admin/otp_totp/totpdevice/{phone.pk}/change/")
    assert page.status_code == 200
    assert phone.key not in page.content.decode()  # the secret stays out of sight

    admin_client_.post(f"/admin/otp_totp/totpdevice/{phone.pk}/delete/", {"post": "yes"})
    assert not TOTPDevice.objects.filter(user=manager).exists()


def test_it_sends_an_administrator_whose_authenticator_was_removed_to_set_up_another(
    admin_client_, administrator
):
    TOTPDevice.objects.filter(user=administrator).delete()
    response = admin_client_.get(reverse("crm:contact_list"))
    assert response["Location"] == f"{reverse('two_factor_setup')}?next=/contacts/"


def test_it_refuses_the_admin_to_someone_signed_in_without_access(manager_client):
    # The admin sends them to its sign-in, which must not send them round in circles.
    response = manager_client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert len(response.redirect_chain) == 1
