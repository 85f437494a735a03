"""Contacts and unions: normalization, uniqueness and defaults, whoever saves them."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from crm.models import Contact, Union, normalize_email, normalize_phone
from crm.text import fold
from tests.factories import ContactFactory, SiteFactory, UnionFactory

pytestmark = pytest.mark.django_db


def _clean(**fields) -> Contact:
    contact = Contact(**fields)
    contact.full_clean()
    return contact


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("030 1234567", "DE", "+49301234567"),
        ("+49 (0)30 123-4567", None, "+49301234567"),
        ("(202) 555-0143", "US", "+12025550143"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+30 21 0123 4567", "GR", "+302101234567"),
    ],
)
def test_it_normalizes_phone_numbers_to_e164(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [("12", "DE"), ("not a phone", "FR"), ("030 1234567", None), ("+99 123", None)],
)
def test_it_refuses_invalid_phone_numbers_with_the_value(raw, region):
    with pytest.raises(ValidationError) as error:
        normalize_phone(raw, region)
    assert raw in error.value.messages[0]


def test_it_stores_a_contacts_phone_in_e164_using_its_country():
    assert _clean(last_name="Weiß", country="DE", phone="0151 23456789").phone == "+4915123456789"


def test_it_reports_an_invalid_phone_on_the_phone_field():
    with pytest.raises(ValidationError) as error:
        _clean(last_name="Weiß", country="DE", phone="123")
    assert "phone" in error.value.message_dict
    assert "123" in error.value.message_dict["phone"][0]


def test_it_lowercases_the_email_domain_and_trims():
    assert normalize_email("  Anna.K@Example.ORG ") == "Anna.K@example.org"


def test_it_refuses_a_duplicate_email_whatever_its_case():
    ContactFactory.create(email="anna.kowalska@example.org")
    with pytest.raises(ValidationError) as error:
        _clean(first_name="Anna", email="ANNA.Kowalska@EXAMPLE.org")
    assert error.value.message_dict["email"] == [
        "A contact with this email address exists already."
    ]


def test_it_enforces_email_uniqueness_in_the_database_too():
    ContactFactory.create(email="dup@example.org")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(last_name="Other", email="DUP@example.org")


def test_it_allows_many_contacts_without_email():
    ContactFactory.create(email="")
    ContactFactory.create(email="")
    assert Contact.objects.filter(email="").count() == 2


def test_it_requires_a_first_or_last_name():
    with pytest.raises(ValidationError) as error:
        _clean(first_name=" ", last_name="")
    assert "last_name" in error.value.message_dict
    assert _clean(first_name="Ελένη").full_name == "Ελένη"


@pytest.mark.parametrize(
    ("country", "expected"),
    [
        ("FR", "Europe/Paris"),
        ("PL", "Europe/Warsaw"),
        ("DE", "Europe/Berlin"),
        ("GR", "Europe/Athens"),
    ],
)
def test_it_defaults_the_time_zone_of_a_one_zone_country(country, expected):
    assert _clean(last_name="X", country=country).timezone == expected


@pytest.mark.parametrize("country", ["US", "CA", "ES", "PT"])
def test_it_leaves_the_time_zone_to_choose_in_a_several_zone_country(country):
    assert _clean(last_name="X", country=country).timezone == ""


def test_it_keeps_a_chosen_time_zone_and_refuses_unknown_ones():
    assert (
        _clean(last_name="X", country="ES", timezone="Atlantic/Canary").timezone
        == "Atlantic/Canary"
    )
    with pytest.raises(ValidationError) as error:
        _clean(last_name="X", timezone="Mars/Olympus_Mons")
    assert "Mars/Olympus_Mons" in error.value.message_dict["timezone"][0]


def test_it_takes_the_employer_from_the_site_and_refuses_a_mismatch():
    site = SiteFactory.create()
    assert _clean(last_name="X", site=site).employer == site.employer
    other = SiteFactory.create()
    with pytest.raises(ValidationError) as error:
        _clean(last_name="X", site=site, employer=other.employer)
    assert "site" in error.value.message_dict


def test_it_keeps_search_text_folded_for_every_script():
    contact = ContactFactory.create(
        first_name="Jürgen", last_name="ΠΑΠΑΔΌΠΟΥΛΟΣ", email="J.P@example.org"
    )
    assert contact.search_text == "jurgen παπαδοπουλοσ j.p@example.org"
    assert fold("Łucja Dąbrowska") == "łucja dabrowska"


def test_it_requires_a_national_union_as_parent_of_a_local():
    federation = UnionFactory.create(kind=Union.Kind.GLOBAL_FEDERATION, country="")
    local = Union(name="Local 1", country="US", kind=Union.Kind.LOCAL)
    with pytest.raises(ValidationError, match="must belong"):
        local.full_clean()
    local.parent = federation
    with pytest.raises(ValidationError, match="must be a national union"):
        local.full_clean()
    local.parent = UnionFactory.create(country="US")
    local.full_clean()


def test_it_refuses_the_same_union_name_twice_in_a_country():
    UnionFactory.create(name="IG Metall", country="DE")
    with pytest.raises(ValidationError, match="exists already"):
        Union(name="ig metall", country="DE", kind=Union.Kind.NATIONAL_UNION).full_clean()
    Union(name="IG Metall", country="AT", kind=Union.Kind.NATIONAL_UNION).full_clean()
