"""Union and employer pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.models import Employer, Site, Union
from tests.factories import MembershipFactory, SiteFactory, UnionFactory

pytestmark = pytest.mark.django_db


def test_it_lists_and_searches_unions_ignoring_accents(staff_client):
    UnionFactory.create(
        name="Fédération générale des mines et de la métallurgie", acronym="FGMM-CFDT", country="FR"
    )
    UnionFactory.create(name="IG Metall", acronym="IGM")
    response = staff_client.get(reverse("crm:union_list"), {"q": "federation"})
    assert [union.acronym for union in response.context["page"].object_list] == ["FGMM-CFDT"]


def test_it_counts_current_members_and_locals(staff_client, django_assert_num_queries):
    national = UnionFactory.create(country="US")
    UnionFactory.create(country="US", kind=Union.Kind.LOCAL, parent=national)
    MembershipFactory.create(union=national)
    MembershipFactory.create(union=national, start_date="2010-01-01", end_date="2011-01-01")
    response = staff_client.get(
        reverse("crm:union_list"), {"country": "US", "kind": "national_union"}
    )
    [row] = response.context["page"].object_list
    assert (row.member_count, row.local_count) == (1, 1)
    for _extra in range(30):
        UnionFactory.create()
    with django_assert_num_queries(UNION_LIST_QUERIES):
        staff_client.get(reverse("crm:union_list"))


# session, user, permissions (2), navigation groups, sector choices, count, page, sectors.
UNION_LIST_QUERIES = 9


def test_it_shows_a_union_with_locals_members_and_history(staff_client):
    national = UnionFactory.create(name="International Association of Machinists", country="US")
    UnionFactory.create(
        name="District Lodge 751", country="US", kind=Union.Kind.LOCAL, parent=national
    )
    MembershipFactory.create(
        union=national, contact__first_name="DeShawn", contact__last_name="Washington"
    )
    body = staff_client.get(reverse("crm:union_detail", args=[national.pk])).content.decode()
    assert "District Lodge 751" in body
    assert "DeShawn Washington" in body
    assert "Timeline" in body


def test_it_creates_a_local_under_its_national_union(organizer_client):
    national = UnionFactory.create(country="US")
    response = organizer_client.post(
        reverse("crm:union_create"),
        {
            "name": "Local 44",
            "kind": "local",
            "country": "US",
            "parent": national.pk,
            "sectors": ["aerospace"],
        },
    )
    local = Union.objects.get(name="Local 44")
    assert response.status_code == 302
    assert local.parent == national
    assert list(local.sectors.values_list("slug", flat=True)) == ["aerospace"]


def test_it_explains_a_local_without_national_union(organizer_client):
    response = organizer_client.post(
        reverse("crm:union_create"), {"name": "Local 45", "kind": "local", "country": "US"}
    )
    assert response.status_code == 200
    assert "A local must belong to a national union." in response.content.decode()
    assert not Union.objects.filter(name="Local 45").exists()


def test_it_lets_only_organizers_edit_unions(staff_client, manager_client):
    union = UnionFactory.create()
    for client in (staff_client, manager_client):
        assert client.get(reverse("crm:union_update", args=[union.pk])).status_code == 403


def test_it_manages_employers_and_sites(organizer_client, organizer):
    organizer_client.post(reverse("crm:employer_create"), {"name": "Nammo", "country": "NO"})
    employer = Employer.objects.get(name="Nammo")
    assert employer.created_by == organizer
    organizer_client.post(
        reverse("crm:site_create", args=[employer.pk]),
        {"city": "Raufoss", "country": "NO", "products": "Ammunition"},
    )
    site = Site.objects.get(employer=employer)
    body = organizer_client.get(reverse("crm:employer_detail", args=[employer.pk])).content.decode()
    assert "Raufoss" in body
    response = organizer_client.post(
        reverse("crm:site_create", args=[employer.pk]), {"city": "RAUFOSS", "country": "NO"}
    )
    assert "already has a site" in response.content.decode()
    assert Site.objects.filter(employer=employer).count() == 1
    organizer_client.post(
        reverse("crm:site_update", args=[site.pk]),
        {"city": "Raufoss", "country": "NO", "name": "Plant 2"},
    )
    site.refresh_from_db()
    assert site.name == "Plant 2"


def test_it_hides_employers_from_outreach_staff(staff_client, manager_client):
    employer = SiteFactory.create().employer
    assert staff_client.get(reverse("crm:employer_list")).status_code == 403
    assert manager_client.get(reverse("crm:employer_detail", args=[employer.pk])).status_code == 200
    assert manager_client.get(reverse("crm:employer_create")).status_code == 403


def test_it_refuses_a_kind_change_that_would_orphan_locals_or_affiliates(organizer_client):
    national = UnionFactory.create(country="US")
    UnionFactory.create(country="US", kind=Union.Kind.LOCAL, parent=national)
    response = organizer_client.post(
        reverse("crm:union_update", args=[national.pk]),
        {"name": national.name, "kind": "global_federation", "country": "US"},
    )
    assert "This union has locals" in response.content.decode()
    centre = UnionFactory.create(kind=Union.Kind.NATIONAL_CENTRE)
    national.affiliations.add(centre)
    response = organizer_client.post(
        reverse("crm:union_update", args=[centre.pk]),
        {"name": centre.name, "kind": "national_union", "country": "DE"},
    )
    assert "Unions are affiliated to this one" in response.content.decode()
    national.refresh_from_db()
    centre.refresh_from_db()
    assert (national.kind, centre.kind) == (Union.Kind.NATIONAL_UNION, Union.Kind.NATIONAL_CENTRE)


def test_it_counts_people_not_memberships(staff_client):
    union = UnionFactory.create()
    membership = MembershipFactory.create(union=union, role="member")
    MembershipFactory.create(union=union, contact=membership.contact, role="shop_steward")
    [row] = staff_client.get(reverse("crm:union_list")).context["page"].object_list
    assert row.member_count == 1
    assert (
        staff_client.get(reverse("crm:union_detail", args=[union.pk])).context["people_count"] == 1
    )
