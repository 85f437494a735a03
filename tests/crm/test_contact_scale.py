"""The contact list at campaign scale (50,000 people) on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from crm.models import Contact, Membership, Tag, Union, contact_search_text
from crm.selectors import ContactFilters, contact_list
from tests.conftest import rolled_back_module_data
from tests.crm.test_views_contacts import LIST_QUERIES

SIZE = 50_000
FIRST = ["Jürgen", "Ελένη", "Иван", "Ayşe", "Łucja", "Søren", "Maria", "John", "Nuria", "Päivi"]


@pytest.fixture(scope="module")
def fifty_thousand(django_db_setup, django_db_blocker):
    """50,000 contacts with memberships and tags, made once for the module.

    Rolled back at the end: deleting them row by row (history signals) would take minutes.
    """
    with rolled_back_module_data(django_db_blocker):
        if connection.vendor != "postgresql":
            yield None
            return
        union = Union.objects.create(
            name="Scale Union", country="DE", kind=Union.Kind.NATIONAL_UNION
        )
        tag = Tag.objects.create(name="scale")
        contacts = []
        for index in range(SIZE):
            first, last = FIRST[index % len(FIRST)], f"Scale{index:05d}"
            email = f"scale{index}@example.org"
            contacts.append(
                Contact(
                    first_name=first,
                    last_name=last,
                    email=email,
                    search_text=contact_search_text(first, last, email),
                )
            )
        created = Contact.objects.bulk_create(contacts, batch_size=5000)
        Membership.objects.bulk_create(
            [Membership(contact=c, union=union) for c in created], batch_size=5000
        )
        Contact.tags.through.objects.bulk_create(
            [Contact.tags.through(contact=c, tag=tag) for c in created[:10_000]], batch_size=5000
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE crm_contact; ANALYZE crm_membership")
        yield created


@pytest.mark.services
def test_it_lists_fifty_thousand_contacts_in_the_same_number_of_queries(
    postgres, fifty_thousand, staff_client, django_assert_num_queries
):
    with django_assert_num_queries(LIST_QUERIES):
        response = staff_client.get(reverse("crm:contact_list"), {"page": 400})
    assert response.context["page"].paginator.count == SIZE
    assert len(response.context["page"].object_list) == 50


@pytest.mark.services
def test_it_searches_names_through_the_trigram_index(postgres, fifty_thousand):
    plan = contact_list(filters=ContactFilters(q="scale01234")).explain()
    assert "crm_contact_search_trgm" in plan, plan
    assert [c.last_name for c in contact_list(filters=ContactFilters(q="SCALE01234"))] == [
        "Scale01234"
    ]
