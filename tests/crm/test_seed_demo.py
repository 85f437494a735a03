"""`manage.py seed_demo`: realistic, international and idempotent."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from crm.models import Contact, Membership, Union
from crm.roles import ROLE_PERMISSIONS

pytestmark = pytest.mark.django_db


def _snapshot() -> tuple:
    return (
        sorted(
            Contact.objects.values_list(
                "email", "first_name", "last_name", "phone", "country", "timezone"
            )
        ),
        Union.objects.count(),
        Membership.objects.count(),
    )


def test_it_seeds_the_same_data_twice_without_duplicates(capsys):
    call_command("seed_demo", "--contacts", "60", "--seed", "7")
    first = _snapshot()
    capsys.readouterr()
    call_command("seed_demo", "--contacts", "60", "--seed", "7")
    assert _snapshot() == first
    assert len(first[0]) == 60
    assert (
        "0 unions, 0 employers, 0 sites, 0 contacts, 0 memberships created"
        in capsys.readouterr().out
    )


def test_it_creates_the_sample_unions_with_their_structure():
    call_command("seed_demo", "--contacts", "0")
    igm = Union.objects.get(acronym="IGM")
    assert {u.name for u in igm.affiliations.all()} == {"IndustriALL Global Union", "DGB"}
    lodge = Union.objects.get(acronym="IAM 751")
    assert lodge.parent is not None
    assert (lodge.kind, lodge.parent.acronym) == (Union.Kind.LOCAL, "IAM")


def test_it_uses_names_in_their_own_scripts():
    call_command("seed_demo", "--contacts", "300")
    names = " ".join(Contact.objects.values_list("last_name", flat=True))
    assert any("\u0370" <= ch <= "\u03ff" for ch in names)  # Greek
    assert any("\u0400" <= ch <= "\u04ff" for ch in names)  # Cyrillic
    assert Contact.objects.exclude(phone="").filter(phone__startswith="+").exists()
    assert not Contact.objects.filter(timezone="").exists()


def test_it_creates_one_demo_user_per_role(capsys):
    call_command("seed_demo", "--contacts", "0", "--users", "--allow-demo-users-without-debug")
    out = capsys.readouterr().out
    for user in User.objects.all():
        assert user.username in out
    assert sorted(User.objects.values_list("groups__name", flat=True)) == sorted(ROLE_PERMISSIONS)
    assert User.objects.get(username="admin").is_staff


def test_it_refuses_demo_users_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="published password"):
        call_command("seed_demo", "--contacts", "0", "--users")
    assert not User.objects.exists()


def test_it_never_gives_a_role_to_a_real_account_named_like_a_demo_login(settings):
    settings.DEBUG = True
    real = User.objects.create_user(username="admin", email="it@union.example", password="x" * 20)
    with pytest.raises(CommandError, match="not a demo account"):
        call_command("seed_demo", "--contacts", "0", "--users")
    real.refresh_from_db()
    assert not real.groups.exists()
    assert not real.is_staff


def test_it_logs_demo_consultations_once(settings):
    from outreach.models import Consultation

    settings.DEBUG = True
    call_command("seed_demo", "--contacts", "120", "--users", "--consultations", "15")
    assert Consultation.objects.count() == 15
    assert Consultation.objects.filter(attendances__isnull=False).distinct().count() == 15
    call_command("seed_demo", "--contacts", "120", "--users", "--consultations", "15")
    assert Consultation.objects.count() == 15
