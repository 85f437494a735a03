"""Writes through the services: what was stored, and who is recorded as having changed it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from crm import services
from crm.models import (
    Consent,
    ConsentRecord,
    ConsentSource,
    Contact,
    Language,
    Membership,
    Tag,
    Union,
)
from tests.factories import ContactFactory, UnionFactory

pytestmark = pytest.mark.django_db


def test_it_creates_a_contact_with_languages_tags_and_a_membership(organizer):
    union = UnionFactory.create()
    contact = services.contact_create(
        data={
            "first_name": "Ayşe",
            "last_name": "Yılmaz",
            "email": "Ayse@Example.ORG",
            "phone": "0532 123 45 67",
            "country": "TR",
            "languages": [Language.objects.get(code="tr")],
            "preferred_language": Language.objects.get(code="en"),
            "tags": "welding, Site visit; welding",
            "union": union,
            "union_role": Membership.Role.SHOP_STEWARD,
        },
        by=organizer,
    )
    contact.refresh_from_db()
    assert contact.email == "Ayse@example.org"
    assert contact.phone == "+905321234567"
    assert contact.timezone == "Europe/Istanbul"
    assert sorted(contact.languages.values_list("code", flat=True)) == ["en", "tr"]
    assert sorted(contact.tags.values_list("name", flat=True)) == ["Site visit", "welding"]
    assert contact.memberships.get().role == Membership.Role.SHOP_STEWARD
    assert contact.created_by == organizer


@pytest.mark.parametrize("names", [["Straße", "STRASSE"], ["Ärger", "ärger"], ["Σίγμα", "ΣΊΓΜΑ"]])
def test_it_never_fails_on_tags_that_differ_only_by_case(names):
    first = services.contact_create(data={"last_name": "A", "tags": [names[0]]}, by=None)
    second = services.contact_create(data={"last_name": "B", "tags": names}, by=None)
    assert first.tags.get() in second.tags.all()


def test_it_reuses_tags_case_insensitively():
    Tag.objects.create(name="Welding")
    contact = services.contact_create(data={"last_name": "X", "tags": ["welding", "NEW"]}, by=None)
    assert sorted(contact.tags.values_list("name", flat=True)) == ["NEW", "Welding"]
    assert Tag.objects.count() == 2


def test_it_records_consent_changes_with_date_and_source(organizer):
    contact = ContactFactory.create(email_consent=Consent.UNKNOWN)
    services.contact_update(
        contact=contact, data={"email_consent": Consent.WITHDRAWN}, by=organizer
    )
    contact.refresh_from_db()
    assert contact.email_consent == Consent.WITHDRAWN
    assert contact.email_consent_source == ConsentSource.STAFF
    assert contact.email_consent_at is not None
    assert not contact.can_be_emailed


def test_it_refuses_invalid_data_and_writes_nothing():
    with pytest.raises(ValidationError) as error:
        services.contact_create(
            data={"last_name": "X", "phone": "12", "country": "DE", "tags": "a"}, by=None
        )
    assert "phone" in error.value.message_dict
    assert not Contact.objects.exists()
    assert not Tag.objects.exists()


def test_it_keeps_a_history_of_changes_with_the_user(organizer, manager):
    contact = services.contact_create(
        data={"first_name": "Jens", "last_name": "Larsen"}, by=organizer
    )
    services.contact_update(contact=contact, data={"last_name": "Larsen-Møller"}, by=manager)
    records = list(contact.history.order_by("history_date"))
    assert [record.history_type for record in records] == ["+", "~"]
    assert [record.history_user for record in records] == [organizer, manager]
    delta = records[1].diff_against(records[0])
    assert [(change.field, change.old, change.new) for change in delta.changes] == [
        ("last_name", "Larsen", "Larsen-Møller")
    ]


def test_it_ends_a_membership_and_refuses_a_duplicate_current_one():
    contact, union = ContactFactory.create(), UnionFactory.create()
    membership = services.membership_add(contact=contact, union=union, role=Membership.Role.MEMBER)
    with pytest.raises(ValidationError, match="already has this role"):
        services.membership_add(contact=contact, union=union, role=Membership.Role.MEMBER)
    services.membership_end(membership=membership)
    assert membership.end_date is not None
    services.membership_add(contact=contact, union=union, role=Membership.Role.MEMBER)
    assert contact.memberships.count() == 2


def test_it_affiliates_unions_only_to_federations_and_centres(organizer):
    federation = UnionFactory.create(kind=Union.Kind.GLOBAL_FEDERATION, country="")
    other_union = UnionFactory.create()
    union = services.union_create(
        data={
            "name": "Fellesforbundet",
            "country": "NO",
            "kind": Union.Kind.NATIONAL_UNION,
            "affiliations": [federation],
        },
        by=organizer,
    )
    assert list(union.affiliations.all()) == [federation]
    with pytest.raises(ValidationError, match="affiliated only"):
        services.union_update(union=union, data={"affiliations": [other_union]}, by=organizer)


# Consent records: every answer about e-mail kept with the question asked.


def _consents(contact: Contact) -> list[tuple[str, str, str, object]]:
    return [
        (record.question, record.answer, record.source, record.recorded_by)
        for record in ConsentRecord.objects.filter(contact=contact).order_by("pk")
    ]


def test_it_records_a_consent_given_to_staff_with_the_question_and_who(organizer):
    contact = services.contact_create(
        data={"last_name": "Nowak", "email_consent": Consent.GRANTED}, by=organizer
    )
    question = "Do you agree to receive e-mail from the campaign?"
    assert _consents(contact) == [(question, Consent.GRANTED, ConsentSource.STAFF, organizer)]
    record = ConsentRecord.objects.get()
    assert record.recorded_at == Contact.objects.get().email_consent_at

    services.contact_update(contact=contact, data={"notes": "met in Gdańsk"}, by=organizer)
    assert len(_consents(contact)) == 1  # no change of answer, no record
    services.contact_update(contact=contact, data={"email_consent": Consent.WITHDRAWN}, by=None)
    assert _consents(contact)[1] == (question, Consent.WITHDRAWN, ConsentSource.STAFF, None)


def test_it_records_nothing_for_a_new_contact_without_an_answer(organizer):
    contact = services.contact_create(data={"last_name": "Nowak"}, by=organizer)
    assert _consents(contact) == []


def test_it_records_an_opt_out_once_and_an_opt_in_every_time():
    contact = ContactFactory.create(email_consent=Consent.GRANTED)
    for _twice in range(2):
        services.contact_email_opt_out(
            contact=contact, source=ConsentSource.UNSUBSCRIBE, question="Stop?"
        )
    for _twice in range(2):
        services.contact_email_opt_in(
            contact=contact, source=ConsentSource.PUBLIC_FORM, question="Updates?"
        )
    assert _consents(contact) == [
        ("Stop?", Consent.WITHDRAWN, ConsentSource.UNSUBSCRIBE, None),
        ("Updates?", Consent.GRANTED, ConsentSource.PUBLIC_FORM, None),
        ("Updates?", Consent.GRANTED, ConsentSource.PUBLIC_FORM, None),
    ]
