"""The consultation list and a person's timeline with 10,000 consultations, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact, Union
from outreach.models import Attendance, Consultation, Topic
from tests.conftest import rolled_back_module_data
from tests.outreach.test_views_consultations import LIST_QUERIES

SIZE = 10_000


@pytest.fixture(scope="module")
def ten_thousand(django_db_setup, django_db_blocker):
    """10,000 consultations, each with a union and a topic, all attended by one busy person."""
    with rolled_back_module_data(django_db_blocker):
        if connection.vendor != "postgresql":
            yield None
            return
        lead = User.objects.create(username="scale-lead")
        union = Union.objects.create(
            name="Scale Union", country="DE", kind=Union.Kind.NATIONAL_UNION
        )
        person = Contact.objects.create(
            first_name="Busy", last_name="Steward", email="busy@example.org"
        )
        topic = Topic.objects.get(slug="welding")
        start = timezone.now() - timedelta(days=SIZE)
        consultations = Consultation.objects.bulk_create(
            [
                Consultation(
                    title=f"Scale {index}",
                    starts_at=start + timedelta(days=index),
                    # bulk_create skips save(), which keeps the local date
                    held_on=(start + timedelta(days=index)).date(),
                    lead=lead,
                    country="DE",
                )
                for index in range(SIZE)
            ],
            batch_size=2000,
        )
        Consultation.unions.through.objects.bulk_create(
            [Consultation.unions.through(consultation=c, union=union) for c in consultations],
            batch_size=2000,
        )
        Consultation.topics.through.objects.bulk_create(
            [Consultation.topics.through(consultation=c, topic=topic) for c in consultations],
            batch_size=2000,
        )
        Attendance.objects.bulk_create(
            [Attendance(consultation=c, contact=person, role="speaker") for c in consultations],
            batch_size=2000,
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE outreach_consultation; ANALYZE outreach_attendance")
        yield person


@pytest.mark.services
def test_it_lists_ten_thousand_consultations_in_the_same_number_of_queries(
    postgres, ten_thousand, manager_client, django_assert_num_queries
):
    with django_assert_num_queries(LIST_QUERIES):
        response = manager_client.get(reverse("outreach:consultation_list"), {"page": 150})
    assert response.context["page"].paginator.count == SIZE
    assert len(response.context["page"].object_list) == 50


@pytest.mark.services
def test_it_shows_the_timeline_of_a_person_who_attended_them_all(
    postgres, ten_thousand, staff_client, django_assert_num_queries
):
    with django_assert_num_queries(TIMELINE_QUERIES):
        response = staff_client.get(reverse("crm:contact_detail", args=[ten_thousand.pk]))
    timeline = response.context["timeline"]
    assert len(timeline) == 30
    consultations = [item for item in timeline if item.kind == "consultation"]
    assert consultations[0].consultation.title == f"Scale {SIZE - 1}"
    assert consultations[0].role == "Speaker"


# session, user, permissions (2), navigation groups, contact, memberships, languages, tags, the
# latest consultations with their unions and topics (3), follow-ups, history versions, and their two
# snapshot tables, the access log's row and the erasure looked for, the consent history: the same
# as a contact with a handful of consultations.
TIMELINE_QUERIES = 19
