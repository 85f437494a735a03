"""Logging consultations through the services: what is stored, what is refused."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import Contact
from outreach import services
from outreach.models import Attendance, Consultation, Topic
from outreach.services import NewAttendee
from tests.factories import ContactFactory, UnionFactory

pytestmark = pytest.mark.django_db


def _data(**overrides):
    data = {
        "starts_at": timezone.now() - timedelta(hours=2),
        "status": Consultation.Status.HELD,
        "format": Consultation.Format.SITE_VISIT,
        "country": "DE",
        "position": Consultation.Position.CONDITIONAL,
    }
    data.update(overrides)
    return data


def test_it_logs_a_consultation_with_unions_people_and_topics(outreach_staffer):
    union = UnionFactory.create(acronym="IGM")
    known = ContactFactory.create()
    topics = list(Topic.objects.filter(slug__in=["welding", "safety"]))
    consultation = services.consultation_create(
        data=_data(
            unions=[union],
            attendees=[(known, Attendance.Role.SPEAKER)],
            new_attendees=[
                NewAttendee(
                    first_name="Jens", last_name="Møller", email="jens@metal.dk", union=union
                )
            ],
            topics=topics,
        ),
        by=outreach_staffer,
    )
    consultation.refresh_from_db()
    assert consultation.title == "Site visit – IGM"
    assert consultation.lead == outreach_staffer
    assert list(consultation.unions.all()) == [union]
    assert dict(consultation.attendances.values_list("contact__last_name", "role")) == {
        known.last_name: "speaker",
        "Møller": "participant",
    }
    new_person = Contact.objects.get(email="jens@metal.dk")
    assert new_person.memberships.get().union == union
    assert str(new_person.country) == "DE"
    assert set(consultation.topics.all()) == set(topics)


def test_it_refuses_a_consultation_without_union_or_person(outreach_staffer):
    with pytest.raises(ValidationError) as error:
        services.consultation_create(data=_data(), by=outreach_staffer)
    assert set(error.value.message_dict) == {"unions", "attendees"}
    assert not Consultation.objects.exists()


def test_it_allows_the_future_only_for_planned_consultations(outreach_staffer):
    union = UnionFactory.create()
    tomorrow = timezone.now() + timedelta(days=1)
    with pytest.raises(ValidationError) as error:
        services.consultation_create(
            data=_data(starts_at=tomorrow, unions=[union]), by=outreach_staffer
        )
    assert "starts_at" in error.value.message_dict
    assert not Consultation.objects.exists()
    planned = services.consultation_create(
        data=_data(starts_at=tomorrow, status=Consultation.Status.PLANNED, unions=[union]),
        by=outreach_staffer,
    )
    assert planned.status == Consultation.Status.PLANNED


def test_it_writes_nothing_when_a_new_person_is_refused(outreach_staffer):
    ContactFactory.create(email="taken@example.org")
    with pytest.raises(ValidationError):
        services.consultation_create(
            data=_data(
                new_attendees=[
                    NewAttendee(first_name="A", last_name="B", email="TAKEN@example.org")
                ]
            ),
            by=outreach_staffer,
        )
    assert not Consultation.objects.exists()
    assert Contact.objects.count() == 1


def test_it_creates_one_consultation_for_one_submission_key(outreach_staffer):
    key = uuid.uuid4()
    union = UnionFactory.create()
    first = services.consultation_create(
        data=_data(unions=[union]), by=outreach_staffer, submission_key=key
    )
    second = services.consultation_create(
        data=_data(unions=[union], new_attendees=[NewAttendee(first_name="X", last_name="Y")]),
        by=outreach_staffer,
        submission_key=key,
    )
    assert first == second
    assert Consultation.objects.count() == 1
    assert not Contact.objects.filter(last_name="Y").exists()


def test_it_changes_attendee_roles_and_records_them_in_history(outreach_staffer):
    person = ContactFactory.create()
    consultation = services.consultation_create(
        data=_data(attendees=[(person, Attendance.Role.PARTICIPANT)]), by=outreach_staffer
    )
    services.consultation_update(
        consultation=consultation,
        data=_data(attendees=[(person, Attendance.Role.INTERPRETER)]),
        by=outreach_staffer,
    )
    assert consultation.attendances.get().role == "interpreter"
    from crm.history import history_entries

    changes = [change for entry in history_entries(obj=consultation) for change in entry.changes]
    assert (
        "attendees",
        f"{person.full_name} (Participant)",
        f"{person.full_name} (Interpreter)",
    ) in changes


def test_it_deletes_and_keeps_the_history(outreach_staffer):
    consultation = services.consultation_create(
        data=_data(unions=[UnionFactory.create()]), by=outreach_staffer
    )
    pk = consultation.pk
    services.consultation_delete(consultation=consultation, by=outreach_staffer)
    assert not Consultation.objects.filter(pk=pk).exists()
    last = Consultation.history.filter(id=pk).order_by("-history_date").first()
    assert last.history_type == "-"
    assert last.history_user == outreach_staffer
