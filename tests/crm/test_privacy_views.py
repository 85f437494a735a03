"""The administrators' privacy pages, and the access log written by the pages and exports that
show people: contact pages, contact exports, the export commands."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact, ContactAccess, ContactErasure, ErasureReview
from crm.privacy import services
from tests.factories import ConsultationFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_logs_each_view_of_a_contact(staff_client, outreach_staffer):
    contact = ContactFactory.create()
    url = reverse("crm:contact_detail", args=[contact.pk])
    staff_client.get(url)
    staff_client.get(url + "?q=someone")
    rows = list(ContactAccess.objects.values_list("contact_id", "user", "action", "source"))
    # The path only: a query string may hold what someone searched for.
    assert rows == [(contact.pk, outreach_staffer.pk, "viewed", url)] * 2


def test_it_shows_who_looked_at_a_record_to_administrators_only(
    admin_client_, manager_client, manager
):
    contact = ContactFactory.create()
    url = reverse("crm:contact_detail", args=[contact.pk])
    manager_client.get(url)
    response = manager_client.get(url)
    assert "Who looked at this record" not in response.content.decode()
    page = admin_client_.get(url).content.decode()
    assert "Who looked at this record" in page
    assert page.count("mia.manager") == 2
    assert "ada.admin" in page  # this very view


def test_it_logs_every_contact_of_an_export_in_one_statement(
    manager_client, manager, django_assert_max_num_queries
):
    ContactFactory.create_batch(40, country="DE")
    ContactFactory.create_batch(3, country="FR")
    url = reverse("crm:contact_export", args=["csv"])
    with django_assert_max_num_queries(15):
        response = manager_client.get(url, {"country": "FR"})
        b"".join(response.streaming_content)
    rows = ContactAccess.objects.all()
    assert rows.count() == 3
    assert {(r.user_id, r.action, r.count, r.source) for r in rows} == {
        (manager.pk, "exported", 3, url)
    }
    assert set(rows.values_list("contact__country", flat=True)) == {"FR"}
    # Forty more people cost no more statements.
    with django_assert_max_num_queries(15):
        b"".join(manager_client.get(url).streaming_content)
    assert ContactAccess.objects.count() == 3 + 43


def test_it_logs_the_people_named_by_the_export_commands(tmp_path, outreach_staffer):
    people = ContactFactory.create_batch(3)
    ConsultationFactory.create().attendees.add(*people[:2])
    call_command("export_contacts", str(tmp_path / "all.csv"), stdout=io.StringIO())
    call_command("export_consultations", str(tmp_path / "c.xlsx"), stdout=io.StringIO())
    exported = ContactAccess.objects.filter(action="exported")
    assert (
        sorted(exported.filter(source="export_contacts all.csv").values_list("count")) == [(3,)] * 3
    )
    assert sorted(
        exported.filter(source="export_consultations c.xlsx").values_list("contact_id", flat=True)
    ) == sorted(p.pk for p in people[:2])


# session, user, the administrator's authenticator, permissions (2), navigation groups, the staff
# list of the filter, the count and the page with who and whom joined in: however many rows and
# pages.
LOG_QUERIES = 9


def test_it_lists_the_log_with_filters_and_pages_in_constant_queries(
    admin_client_, administrator, organizer, django_assert_num_queries
):
    people = ContactFactory.create_batch(3)
    for person in people:
        services.contact_access_record(
            contact=person, by=organizer, action="viewed", source=f"/contacts/{person.pk}/"
        )
    services.contacts_access_record(
        contacts=Contact.objects.all(), by=administrator, source="/contacts/export.csv"
    )
    old = services.contact_access_record(
        contact=people[0], by=UserFactory.create(), action="viewed", source="/old/"
    )
    ContactAccess.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=40))
    url = reverse("crm:access_log")

    with django_assert_num_queries(LOG_QUERIES):
        response = admin_client_.get(url)
    assert response.context["page"].paginator.count == 7
    page = response.content.decode()
    assert people[0].full_name in page
    assert "/contacts/export.csv" in page
    for index in range(60):
        services.contact_access_record(
            contact=people[index % 3], by=organizer, action="viewed", source="/more/"
        )
    with django_assert_num_queries(LOG_QUERIES):
        response = admin_client_.get(url, {"page": 2})
    assert len(response.context["page"].object_list) == 17

    def count(**query):
        return admin_client_.get(url, query).context["page"].paginator.count

    assert count(user=organizer.pk) == 63
    assert count(action="exported") == 3
    assert count(contact=people[0].pk) == 1 + 1 + 1 + 20
    today = timezone.localdate()
    assert count(date_from=today.isoformat()) == 66
    assert count(date_to=(today - timedelta(days=1)).isoformat()) == 1
    # A filter that does not validate is dropped, not an error.
    assert count(user="nobody", action="exported") == 3


def test_it_downloads_everything_held_as_json_and_as_a_page(admin_client_, administrator):
    contact = ContactFactory.create(first_name="Ayşe", last_name="Kaya", email="ayse@x.example")
    response = admin_client_.get(reverse("crm:contact_subject_export", args=[contact.pk]))
    assert response["Content-Disposition"].startswith(
        f'attachment; filename="contact-{contact.pk}-'
    )
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["profile"]["first_name"] == "Ayşe"
    assert data["access_log"][-1]["action"] == "Subject access export"

    page = admin_client_.get(reverse("crm:contact_subject_report", args=[contact.pk]))
    text = page.content.decode()
    assert "Data held about Ayşe Kaya" in text
    assert "ayse@x.example" in text
    assert ContactAccess.objects.filter(action="subject_export").count() == 2


def test_it_erases_after_the_name_is_typed_and_shows_the_tombstone(admin_client_, administrator):
    contact = ContactFactory.create(first_name="Ayşe", last_name="Kaya", email="ayse@x.example")
    url = reverse("crm:contact_erase", args=[contact.pk])
    response = admin_client_.post(url, {"confirmation": "Ayse Kaya", "reason": "asked"})
    assert response.status_code == 200
    assert "neither the person" in response.content.decode()
    assert not ContactErasure.objects.exists()

    response = admin_client_.post(url, {"confirmation": "ayşe kaya", "reason": "Asked on 3 May"})
    assert response.status_code == 302
    page = admin_client_.get(response["Location"]).content.decode()
    assert f"Erased contact #{contact.pk}" in page
    assert "This person was erased on" in page
    assert "Asked on 3 May" in page
    assert "ayse@x.example" not in page
    # Nothing left to export, erase or fill in again.
    assert admin_client_.get(url).status_code == 404
    assert admin_client_.get(reverse("crm:contact_update", args=[contact.pk])).status_code == 404
    assert admin_client_.get(reverse("crm:membership_create", args=[contact.pk])).status_code == 404
    assert (
        admin_client_.get(reverse("crm:contact_subject_export", args=[contact.pk])).status_code
        == 404
    )
    listing = admin_client_.get(reverse("crm:erasure_list")).content.decode()
    assert f"#{contact.pk}" in listing


def test_it_lists_consultations_to_review_and_marks_them_done(admin_client_, administrator):
    contact = ContactFactory.create(first_name="Ayşe", last_name="Kaya")
    consultation = ConsultationFactory.create(summary="Ayşe Kaya spoke first.")
    consultation.attendees.add(contact)
    services.contact_erase(contact=contact, by=administrator, reason="", confirmation="ERASE")
    [review] = ErasureReview.objects.all()
    listing = admin_client_.get(reverse("crm:erasure_list")).content.decode()
    assert consultation.title in listing

    admin_client_.post(reverse("crm:erasure_review_done", args=[review.pk]))
    review.refresh_from_db()
    assert review.reviewed_by == administrator
    assert consultation.title not in admin_client_.get(reverse("crm:erasure_list")).content.decode()


def test_it_turns_away_everyone_but_administrators(manager_client, organizer_client):
    contact = ContactFactory.create()
    for client in (manager_client, organizer_client):
        response = client.post(
            reverse("crm:contact_erase", args=[contact.pk]), {"confirmation": "ERASE"}
        )
        assert response.status_code == 403
    contact.refresh_from_db()
    assert contact.email
    assert not ContactErasure.objects.exists()


def test_it_logs_the_admins_record_page_and_export(admin_client_, administrator):
    from tests.crm.test_admin_imports import export_form

    people = ContactFactory.create_batch(3)
    admin_client_.get(reverse("admin:crm_contact_change", args=[people[0].pk]))
    response = admin_client_.post(reverse("admin:crm_contact_export"), export_form("csv"))
    assert response.status_code == 200
    assert list(ContactAccess.objects.filter(action="viewed").values_list("contact_id")) == [
        (people[0].pk,)
    ]
    exported = ContactAccess.objects.filter(action="exported", user=administrator)
    assert sorted(exported.values_list("contact_id", "count")) == sorted(
        (person.pk, 3) for person in people
    )
    # The log itself is read-only, even for administrators.
    assert admin_client_.get(reverse("admin:crm_contactaccess_changelist")).status_code == 200
    assert admin_client_.get(reverse("admin:crm_contactaccess_add")).status_code == 403


def test_it_shows_who_looked_in_a_constant_number_of_queries(
    admin_client_, django_assert_num_queries
):
    contact = ContactFactory.create()
    url = reverse("crm:contact_detail", args=[contact.pk])
    admin_client_.get(url)
    with django_assert_num_queries(ADMIN_DETAIL_QUERIES):
        admin_client_.get(url)
    for _ in range(25):
        services.contact_access_record(
            contact=contact, by=UserFactory.create(), action="viewed", source=url
        )
    with django_assert_num_queries(ADMIN_DETAIL_QUERIES):
        response = admin_client_.get(url)
    assert len(response.context["accesses"]) == 20


# The contact page's queries with an empty history (see test_views_contacts.py), its consent
# history and, for administrators, their authenticator and the latest accesses with who made them.
ADMIN_DETAIL_QUERIES = 19
