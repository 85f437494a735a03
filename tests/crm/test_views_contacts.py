"""Contact pages: list, search, filters, detail, create and edit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm import services
from crm.models import Consent, Contact, Language, Membership, Tag
from tests.factories import ConsultationFactory, ContactFactory, MembershipFactory, UnionFactory

pytestmark = pytest.mark.django_db

LIST = reverse("crm:contact_list")


def _names(response) -> list[str]:
    return [contact.full_name for contact in response.context["page"].object_list]


def test_it_requires_login(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_shows_no_access_to_a_user_without_role(outsider_client):
    response = outsider_client.get(LIST)
    assert response.status_code == 403
    assert "no role yet" in response.content.decode()


def test_it_lists_contacts_with_their_current_union(staff_client):
    membership = MembershipFactory.create(
        contact__first_name="Ελένη", contact__last_name="Οικονόμου", union__acronym="ΠΟΕ"
    )
    MembershipFactory.create(
        contact=membership.contact,
        union__acronym="OLD",
        end_date="2020-01-01",
        start_date="2019-01-01",
    )
    response = staff_client.get(LIST, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Ελένη Οικονόμου" in body
    assert "ΠΟΕ" in body
    assert "OLD" not in body


@pytest.mark.parametrize("query", ["jurgen", "JÜRGEN", "müll", "j.muller@", "jürgen müller"])
def test_it_finds_contacts_by_name_or_email_ignoring_case_and_accents(staff_client, query):
    ContactFactory.create(first_name="Jürgen", last_name="Müller", email="j.muller@example.org")
    ContactFactory.create(first_name="Anna", last_name="Schmidt")
    assert _names(staff_client.get(LIST, {"q": query})) == ["Jürgen Müller"]


def test_it_finds_names_in_other_scripts(staff_client):
    ContactFactory.create(first_name="Иван", last_name="Петров")
    ContactFactory.create(first_name="Γιώργος", last_name="Παπαδόπουλος")
    assert _names(staff_client.get(LIST, {"q": "петр"})) == ["Иван Петров"]
    assert _names(staff_client.get(LIST, {"q": "ΠΑΠΑΔΟΠΟΥΛΟΣ"})) == ["Γιώργος Παπαδόπουλος"]


def test_it_filters_by_union_including_its_locals(staff_client):
    national = UnionFactory.create(country="US")
    local = UnionFactory.create(country="US", kind="local", parent=national)
    MembershipFactory.create(contact__last_name="AtNational", union=national)
    MembershipFactory.create(contact__last_name="AtLocal", union=local)
    MembershipFactory.create(contact__last_name="Elsewhere")
    names = _names(staff_client.get(LIST, {"union": national.pk}))
    assert sorted(name.split()[-1] for name in names) == ["AtLocal", "AtNational"]


def test_it_filters_by_country_trade_tag_language_and_consent(staff_client):
    welder = ContactFactory.create(
        last_name="Welder", country="PL", trade="welder", email_consent=Consent.WITHDRAWN
    )
    welder.tags.add(Tag.objects.create(name="shipyard"))
    welder.languages.add(Language.objects.get(code="pl"))
    ContactFactory.create(last_name="Other", country="DE", trade="engineer")
    for params in (
        {"country": "PL"},
        {"trade": "welder"},
        {"tag": Tag.objects.get().pk},
        {"language": "pl"},
        {"consent": "withdrawn"},
    ):
        assert [name.split()[-1] for name in _names(staff_client.get(LIST, params))] == [
            "Welder"
        ], params


def test_it_ignores_an_invalid_filter_instead_of_failing(staff_client):
    ContactFactory.create()
    response = staff_client.get(LIST, {"union": "999999", "country": "ZZ", "page": "abc"})
    assert response.status_code == 200


def test_it_answers_htmx_with_the_results_only(staff_client):
    ContactFactory.create(last_name="Partial")
    response = staff_client.get(LIST, {"q": "partial"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Partial" in body
    assert "<html" not in body


def _seed(count: int) -> None:
    union = UnionFactory.create()
    tag = Tag.objects.create(name=f"tag-{count}")
    for index in range(count):
        contact = ContactFactory.create(email=f"list{count}-{index}@example.org")
        contact.tags.add(tag)
        Membership.objects.create(contact=contact, union=union)


def test_it_lists_a_page_in_a_constant_number_of_queries(staff_client, django_assert_num_queries):
    _seed(3)
    with django_assert_num_queries(LIST_QUERIES):
        staff_client.get(LIST)
    _seed(60)
    with django_assert_num_queries(LIST_QUERIES):
        response = staff_client.get(LIST, {"page": 2})
    assert len(response.context["page"].object_list) == 13


# session, user, user and group permissions, the user's groups (navigation), the three filter
# choice lists (unions, tags, languages), count, page, memberships and tags of the page.
LIST_QUERIES = 12


def test_it_shows_a_contact_with_memberships_and_history(staff_client, organizer_client):
    contact = ContactFactory.create(first_name="Søren", last_name="Jørgensen")
    MembershipFactory.create(contact=contact, union__name="Dansk Metal")
    organizer_client.post(
        reverse("crm:contact_update", args=[contact.pk]),
        {
            "first_name": "Søren",
            "last_name": "Jørgensen-Holm",
            "email": contact.email,
            "email_consent": "granted",
            "country": "DK",
        },
    )
    response = staff_client.get(reverse("crm:contact_detail", args=[contact.pk]))
    body = response.content.decode()
    assert "Dansk Metal" in body
    assert "Jørgensen-Holm" in body
    assert "omar.organizer" in body  # who made the change, in the history


def test_it_creates_a_contact_from_the_form(organizer_client, organizer):
    union = UnionFactory.create()
    response = organizer_client.post(
        reverse("crm:contact_create"),
        {
            "first_name": "Łucja",
            "last_name": "Dąbrowska",
            "email": "lucja@Example.PL",
            "phone": "601 234 567",
            "country": "PL",
            "languages": ["pl", "en"],
            "preferred_language": "pl",
            "tags": "welding, apprenticeships",
            "email_consent": "granted",
            "union": union.pk,
            "union_role": "safety_rep",
        },
    )
    contact = Contact.objects.get()
    assert response.status_code == 302
    assert response["Location"] == contact.get_absolute_url()
    assert (contact.email, contact.phone, contact.timezone) == (
        "lucja@example.pl",
        "+48601234567",
        "Europe/Warsaw",
    )
    assert contact.memberships.get().role == "safety_rep"
    assert contact.created_by == organizer


def test_it_shows_a_duplicate_email_next_to_the_email_field(organizer_client):
    ContactFactory.create(email="taken@example.org")
    response = organizer_client.post(
        reverse("crm:contact_create"),
        {"last_name": "New", "email": "TAKEN@example.org", "email_consent": "unknown"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "A contact with this email address exists already."
    ]
    assert Contact.objects.count() == 1


def test_it_shows_an_invalid_phone_with_its_value(organizer_client):
    response = organizer_client.post(
        reverse("crm:contact_create"),
        {"last_name": "New", "phone": "12345", "country": "DE", "email_consent": "unknown"},
    )
    assert (
        "12345 is not a valid phone number for Germany." in response.context["form"].errors["phone"]
    )
    assert not Contact.objects.exists()


def test_it_does_not_let_outreach_staff_create_contacts(staff_client):
    response = staff_client.post(
        reverse("crm:contact_create"), {"last_name": "Nope", "email_consent": "unknown"}
    )
    assert response.status_code == 403
    assert not Contact.objects.exists()


def test_it_adds_and_ends_memberships(organizer_client):
    contact, union = ContactFactory.create(), UnionFactory.create()
    organizer_client.post(
        reverse("crm:membership_create", args=[contact.pk]),
        {"union": union.pk, "role": "shop_steward", "start_date": "2024-03-01"},
    )
    membership = contact.memberships.get()
    assert membership.role == "shop_steward"
    organizer_client.post(reverse("crm:membership_end", args=[membership.pk]))
    membership.refresh_from_db()
    assert membership.end_date is not None


def test_it_refuses_a_membership_ending_before_it_starts(organizer_client):
    contact, union = ContactFactory.create(), UnionFactory.create()
    response = organizer_client.post(
        reverse("crm:membership_create", args=[contact.pk]),
        {"union": union.pk, "role": "member", "start_date": "2024-03-01", "end_date": "2023-01-01"},
    )
    assert response.status_code == 200
    assert "cannot end before it starts" in response.content.decode()
    assert not contact.memberships.exists()


def test_it_records_when_and_how_consent_changed_through_the_form(organizer_client):
    contact = ContactFactory.create(email_consent=Consent.GRANTED, country="DE")
    organizer_client.post(
        reverse("crm:contact_update", args=[contact.pk]),
        {"last_name": contact.last_name, "email": contact.email, "email_consent": "withdrawn"},
    )
    contact.refresh_from_db()
    assert contact.email_consent == Consent.WITHDRAWN
    assert contact.email_consent_source == "staff"
    assert contact.email_consent_at is not None


def test_it_keeps_the_valid_filters_when_one_is_invalid(staff_client):
    ContactFactory.create(first_name="Alpha", last_name="One")
    ContactFactory.create(first_name="Beta", last_name="Two")
    response = staff_client.get(LIST, {"q": "alpha", "tag": "999999"})
    assert _names(response) == ["Alpha One"]


def test_it_answers_an_htmx_history_restore_with_the_whole_page(staff_client):
    response = staff_client.get(
        LIST, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_it_shows_a_contact_in_a_constant_number_of_queries(
    staff_client, organizer, django_assert_num_queries
):
    contact = services.contact_create(
        data={"last_name": "Often", "tags": "a, b", "languages": [Language.objects.get(code="de")]},
        by=organizer,
    )
    union = UnionFactory.create()
    services.membership_add(contact=contact, union=union, role="member")
    ConsultationFactory.create().attendees.add(contact, through_defaults={"role": "speaker"})
    url = reverse("crm:contact_detail", args=[contact.pk])
    with django_assert_num_queries(DETAIL_QUERIES):
        staff_client.get(url)
    for index in range(25):
        services.contact_update(
            contact=contact, data={"notes": f"edit {index}", "tags": f"t{index}"}, by=organizer
        )
        consultation = ConsultationFactory.create()
        consultation.attendees.add(contact)
        consultation.unions.add(union)
    with django_assert_num_queries(DETAIL_QUERIES):
        response = staff_client.get(url)
    kinds = [item.kind for item in response.context["timeline"]]
    assert len(kinds) == 30
    assert {"consultation", "change"} <= set(kinds)


# session, user, permissions (2), navigation groups, contact, memberships, languages, tags,
# consultations attended with their unions and topics (3), follow-ups, history versions, two
# snapshot tables (languages, tags), the names of the languages and tags they refer to. Each
# other kind of record a version refers to adds one, whatever the length of the history.
DETAIL_QUERIES = 18


def test_it_shows_history_with_readable_values(staff_client, organizer):
    contact = services.contact_create(data={"last_name": "Readable", "country": "DE"}, by=organizer)
    services.contact_update(
        contact=contact,
        data={
            "email_consent": "granted",
            "do_not_contact": True,
            "languages": [Language.objects.get(code="fr")],
        },
        by=organizer,
    )
    body = staff_client.get(reverse("crm:contact_detail", args=[contact.pk])).content.decode()
    assert "<del>Unknown</del> → <ins>Granted</ins>" in body
    assert "<del>No</del> → <ins>Yes</ins>" in body
    assert "<del>—</del> → <ins>French</ins>" in body


def test_it_refuses_to_end_a_membership_twice(organizer_client):
    membership = MembershipFactory.create(start_date="2019-01-01", end_date="2020-01-01")
    organizer_client.post(reverse("crm:membership_end", args=[membership.pk]))
    membership.refresh_from_db()
    assert str(membership.end_date) == "2020-01-01"
