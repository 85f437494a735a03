"""`manage.py seed_demo`: realistic, international and idempotent."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

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
    call_command("seed_demo", "--contacts", "60", "--seed", "7")
    assert _snapshot() == first
    assert len(first[0]) == 60
    assert "0 contacts" in capsys.readouterr().out


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
    call_command("seed_demo", "--contacts", "0", "--users")
    out = capsys.readouterr().out
    for user in User.objects.all():
        assert user.username in out
    assert sorted(User.objects.values_list("groups__name", flat=True)) == sorted(ROLE_PERMISSIONS)
    assert User.objects.get(username="admin").is_staff
