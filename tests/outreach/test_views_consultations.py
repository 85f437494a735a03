"""Consultation pages: the quick log, lists with filters, export, edit and delete."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact
from outreach.models import Consultation, Topic
from tests.factories import ConsultationFactory, ContactFactory, UnionFactory

pytestmark = pytest.mark.django_db

NEW = reverse("outreach:consultation_create")
LIST = reverse("outreach:consultation_list")


def _post(**fields):
    data = {
        "submission_key": str(uuid.uuid4()),
        "starts_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "status": "held",
        "format": "in_person",
        "position": "support",
        "new-TOTAL_FORMS": "0",
        "new-INITIAL_FORMS": "0",
    }
    data.update(fields)
    return data


def test_it_logs_a_meeting_from_the_quick_form(staff_client, outreach_staffer):
    union = UnionFactory.create()
    known = ContactFactory.create()
    topic = Topic.objects.get(slug="welding")
    response = staff_client.post(
        NEW,
        _post(
            unions=[str(union.pk)],
            attendees=[str(known.pk)],
            attendee_roles=["speaker"],
            topics=[str(topic.pk)],
            **{
                "new-TOTAL_FORMS": "1",
                "new-0-first_name": "Ioana",
                "new-0-last_name": "Țurcanu",
                "new-0-email": "",
                "new-0-union": str(union.pk),
                "new-0-role": "interpreter",
            },
        ),
    )
    consultation = Consultation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == consultation.get_absolute_url()
    assert consultation.lead == outreach_staffer
    assert sorted(consultation.attendances.values_list("role", flat=True)) == [
        "interpreter",
        "speaker",
    ]
    assert Contact.objects.get(last_name="Țurcanu").memberships.get().union == union


def test_it_shows_each_error_beside_its_field_and_saves_nothing(staff_client):
    tomorrow = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = staff_client.post(NEW, _post(starts_at=tomorrow))
    form = response.context["form"]
    assert response.status_code == 200
    assert form.errors["unions"] == ["Add at least one union or one person who attended."]
    assert form.errors["attendees"] == ["Add at least one union or one person who attended."]
    assert not Consultation.objects.exists()
    response = staff_client.post(
        NEW, _post(starts_at=tomorrow, unions=[str(UnionFactory.create().pk)])
    )
    assert "can only be planned" in response.context["form"].errors["starts_at"][0]
    assert 'id="id_starts_at_error"' in response.content.decode()
    assert not Consultation.objects.exists()


def test_it_keeps_the_picked_unions_and_people_after_an_error(staff_client):
    union = UnionFactory.create(acronym="FNV")
    person = ContactFactory.create(first_name="Femke", last_name="Visser")
    tomorrow = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = staff_client.post(
        NEW,
        _post(
            starts_at=tomorrow,
            unions=[str(union.pk)],
            attendees=[str(person.pk)],
            attendee_roles=["observer"],
        ),
    )
    body = response.content.decode()
    assert f'name="unions" value="{union.pk}"' in body
    assert f'name="attendees" value="{person.pk}"' in body
    assert '<option value="observer" selected>' in body


def test_it_explains_a_new_person_whose_email_is_taken(staff_client):
    ContactFactory.create(email="taken@example.org")
    response = staff_client.post(
        NEW,
        _post(
            **{
                "new-TOTAL_FORMS": "1",
                "new-0-last_name": "Dup",
                "new-0-email": "Taken@Example.org",
                "new-0-role": "participant",
            }
        ),
    )
    row = response.context["new_people"].forms[0]
    assert row.errors["email"] == ["A contact with this email address exists already."]
    assert not Consultation.objects.exists()


@pytest.mark.parametrize(
    "bad",
    [
        {"unions": ["abc"]},
        {"attendees": ["999999"], "attendee_roles": ["speaker"]},
        {"attendee_roles": ["boss"], "attendees": ["1"]},
    ],
)
def test_it_refuses_tampered_picks_without_a_server_error(staff_client, bad):
    response = staff_client.post(NEW, _post(**bad))
    assert response.status_code == 200
    assert not Consultation.objects.exists()


def test_it_creates_one_consultation_when_the_form_is_sent_twice(staff_client):
    data = _post(unions=[str(UnionFactory.create().pk)])
    first = staff_client.post(NEW, data)
    second = staff_client.post(NEW, data)
    assert Consultation.objects.count() == 1
    assert first["Location"] == second["Location"]


def test_it_lets_the_lead_edit_and_no_other_staffer(staff_client, outreach_staffer):
    own = ConsultationFactory.create(lead=outreach_staffer)
    own.unions.add(UnionFactory.create())
    other = ConsultationFactory.create()
    response = staff_client.post(
        reverse("outreach:consultation_update", args=[own.pk]),
        _post(title="Renamed", unions=[str(own.unions.get().pk)], status="held"),
    )
    assert response.status_code == 302
    own.refresh_from_db()
    assert own.title == "Renamed"
    assert (
        staff_client.post(
            reverse("outreach:consultation_update", args=[other.pk]), _post()
        ).status_code
        == 403
    )


def test_it_lets_only_the_lead_delete(staff_client, outreach_staffer, manager_client):
    own = ConsultationFactory.create(lead=outreach_staffer)
    assert (
        manager_client.post(reverse("outreach:consultation_delete", args=[own.pk])).status_code
        == 403
    )
    response = staff_client.post(reverse("outreach:consultation_delete", args=[own.pk]))
    assert response.status_code == 302
    assert not Consultation.objects.exists()
    assert Consultation.history.filter(history_type="-").count() == 1


def test_it_filters_the_list(manager_client):
    union, local_parent = UnionFactory.create(country="PL"), UnionFactory.create(country="US")
    local = UnionFactory.create(country="US", kind="local", parent=local_parent)
    a = ConsultationFactory.create(
        title="A", country="PL", position="opposed", starts_at=timezone.now() - timedelta(days=40)
    )
    a.unions.add(union)
    a.topics.add(Topic.objects.get(slug="lean"))
    b = ConsultationFactory.create(title="B", country="US", status="cancelled")
    b.unions.add(local)
    for params, expected in [
        ({"country": "PL"}, ["A"]),
        ({"position": "opposed"}, ["A"]),
        ({"topic": Topic.objects.get(slug="lean").pk}, ["A"]),
        ({"union": local_parent.pk}, ["B"]),
        ({"status": "cancelled"}, ["B"]),
        ({"date_from": (timezone.localdate() - timedelta(days=10)).isoformat()}, ["B"]),
        ({"date_to": (timezone.localdate() - timedelta(days=30)).isoformat()}, ["A"]),
        ({"country": "PL", "union": "99999"}, ["A"]),
    ]:
        titles = [c.title for c in manager_client.get(LIST, params).context["page"].object_list]
        assert titles == expected, params


def test_it_lists_my_consultations(staff_client, outreach_staffer):
    ConsultationFactory.create(title="Mine", lead=outreach_staffer)
    ConsultationFactory.create(title="Helped").other_staff.add(outreach_staffer)
    ConsultationFactory.create(title="Theirs")
    response = staff_client.get(reverse("outreach:consultation_mine"))
    assert sorted(c.title for c in response.context["page"].object_list) == ["Helped", "Mine"]


def test_it_exports_the_filtered_list_with_formulas_defused(manager_client):
    ConsultationFactory.create(title='=HYPERLINK("http://evil")', country="DE").unions.add(
        UnionFactory.create(acronym="IGM")
    )
    ConsultationFactory.create(title="Elsewhere", country="FR")
    response = manager_client.get(reverse("outreach:consultation_export"), {"country": "DE"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:3] == ["Starts at", "Title", "Status"]
    assert len(rows) == 2
    assert rows[1][1] == '\'=HYPERLINK("http://evil")'
    assert rows[1][6] == "IGM"


def test_it_lists_consultations_in_a_constant_number_of_queries(
    manager_client, django_assert_num_queries
):
    def make(count):
        for _ in range(count):
            consultation = ConsultationFactory.create()
            consultation.unions.add(UnionFactory.create())
            consultation.topics.add(Topic.objects.get(slug="lean"))
            consultation.attendees.add(ContactFactory.create())

    make(2)
    with django_assert_num_queries(LIST_QUERIES):
        manager_client.get(LIST)
    make(60)
    with django_assert_num_queries(LIST_QUERIES):
        response = manager_client.get(LIST, {"page": 2})
    assert len(response.context["page"].object_list) == 12


# session, user, permissions (2), navigation groups, filter choices (unions, topics, staff),
# count, page, the page's unions and topics.
LIST_QUERIES = 12


@pytest.mark.parametrize(
    "bad",
    [
        {"unions": ["²"]},
        {"attendees": ["٣"], "attendee_roles": ["speaker"]},
        {"submission_key": "not-a-uuid"},
    ],
)
def test_it_refuses_odd_digits_and_keys_without_a_server_error(staff_client, bad):
    response = staff_client.post(NEW, _post(**bad))
    assert response.status_code == 200
    assert not Consultation.objects.exists()


def test_it_searches_without_failing_on_control_characters(staff_client):
    UnionFactory.create(name="Unite the Union")
    for url in (reverse("outreach:search_unions"), reverse("outreach:search_contacts")):
        assert staff_client.get(url, {"q": "un\x00ite"}).status_code == 200


@pytest.mark.parametrize(
    ("date_from", "date_to"), [("0001-01-01", "9999-12-31"), ("9999-12-31", "0001-01-01")]
)
def test_it_accepts_dates_at_the_ends_of_the_calendar(manager_client, date_from, date_to):
    session = manager_client.session
    session["staff_timezone"] = "Asia/Tokyo"
    session.save()
    ConsultationFactory.create()
    for url in (LIST, reverse("outreach:consultation_export")):
        response = manager_client.get(url, {"date_from": date_from, "date_to": date_to})
        assert response.status_code == 200
        if url != LIST:
            b"".join(response.streaming_content)


def test_it_exports_in_the_readers_time_zone(manager_client):
    from datetime import UTC, datetime

    ConsultationFactory.create(
        title="Evening in UTC", starts_at=datetime(2025, 1, 10, 20, 0, tzinfo=UTC)
    )
    session = manager_client.session
    session["staff_timezone"] = "Asia/Tokyo"
    session.save()
    listed = [
        c.title
        for c in manager_client.get(LIST, {"date_from": "2025-01-11"}).context["page"].object_list
    ]
    response = manager_client.get(
        reverse("outreach:consultation_export"), {"date_from": "2025-01-11"}
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert listed == ["Evening in UTC"]
    assert rows[1][:2] == ["2025-01-11T05:00+09:00", "Evening in UTC"]


def test_it_keeps_a_retired_topic_when_editing(staff_client, outreach_staffer):
    retired = Topic.objects.create(slug="retired", name="Retired topic", active=False)
    consultation = ConsultationFactory.create(lead=outreach_staffer)
    consultation.unions.add(UnionFactory.create())
    consultation.topics.add(retired)
    url = reverse("outreach:consultation_update", args=[consultation.pk])
    assert "Retired topic" in staff_client.get(url).content.decode()
    staff_client.post(
        url, _post(unions=[str(consultation.unions.get().pk)], topics=[str(retired.pk)])
    )
    assert list(consultation.topics.all()) == [retired]
    assert "Retired topic" not in staff_client.get(NEW).content.decode()


def test_it_ignores_a_new_person_row_that_was_removed(staff_client):
    union = UnionFactory.create()
    # The row's name fields are gone (removed in the page) but TOTAL_FORMS still counts it.
    data = _post(unions=[str(union.pk)], **{"new-TOTAL_FORMS": "1", "new-0-role": ""})
    assert staff_client.post(NEW, data).status_code == 302
    assert Consultation.objects.count() == 1


def test_it_shows_the_first_consultation_when_a_form_with_new_people_is_resent(staff_client):
    data = _post(
        **{
            "new-TOTAL_FORMS": "1",
            "new-0-last_name": "Neu",
            "new-0-email": "neu@example.org",
            "new-0-role": "participant",
        }
    )
    first = staff_client.post(NEW, data)
    again = staff_client.post(NEW, data, follow=True)
    assert Consultation.objects.count() == 1
    assert Contact.objects.filter(email="neu@example.org").count() == 1
    assert again.redirect_chain[-1][0] == first["Location"]
    assert "saved already" in again.content.decode()


def test_it_lets_the_creator_edit_but_only_the_lead_delete(
    client, outreach_staffer, django_user_model
):
    from django.contrib.auth.models import Group

    colleague = django_user_model.objects.create_user(username="colleague", password="x" * 16)
    colleague.groups.add(Group.objects.get(name="Outreach staff"))
    consultation = ConsultationFactory.create(lead=colleague, created_by=outreach_staffer)
    client.force_login(outreach_staffer)
    assert (
        client.get(reverse("outreach:consultation_update", args=[consultation.pk])).status_code
        == 200
    )
    assert (
        client.post(reverse("outreach:consultation_delete", args=[consultation.pk])).status_code
        == 403
    )
    client.force_login(colleague)
    assert (
        client.post(reverse("outreach:consultation_delete", args=[consultation.pk])).status_code
        == 302
    )
    assert not Consultation.objects.exists()


def test_it_exports_the_filtered_list_as_xlsx_with_formulas_defused(manager_client):
    from openpyxl import load_workbook

    ConsultationFactory.create(title="=1+1", country="DE")
    ConsultationFactory.create(title="Elsewhere", country="FR")
    response = manager_client.get(reverse("outreach:consultation_export_xlsx"), {"country": "DE"})
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0][:3] == ["Starts at", "Title", "Status"]
    assert len(rows) == 2
    assert rows[1][1] == "'=1+1"
