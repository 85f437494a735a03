"""Follow-up pages: scheduling with a preview, my follow-ups, actions, and unsubscribing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Consent, ConsentRecord, Language
from outreach.models import EmailTemplate, EmailTemplateVersion, FollowUp
from outreach.unsubscribe import unsubscribe_token, unsubscribe_url
from tests.factories import ContactFactory, FollowUpFactory, UnionFactory

pytestmark = pytest.mark.django_db
Status = FollowUp.Status


@pytest.fixture
def template() -> EmailTemplate:
    template = EmailTemplate.objects.create(name="Notes")
    EmailTemplateVersion.objects.create(
        template=template,
        language=Language.objects.get(code="en"),
        subject="Notes for {{ first_name }}",
        body_text="Hi",
    )
    return template


def test_it_unsubscribes_with_one_click_without_cookies_or_login():
    contact = ContactFactory.create(email_consent=Consent.GRANTED)
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("unsubscribe", args=[unsubscribe_token(contact)]),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    contact.refresh_from_db()
    assert response.status_code == 200
    assert contact.email_consent == Consent.WITHDRAWN
    assert contact.email_consent_source == "unsubscribe"
    assert "set-cookie" not in {key.lower() for key in response.headers}


def test_it_changes_nothing_on_a_get_and_asks_to_confirm(client):
    contact = ContactFactory.create(email_consent=Consent.GRANTED)
    response = client.get(unsubscribe_url(contact).removeprefix("http://localhost:8000"))
    contact.refresh_from_db()
    assert response.status_code == 200
    assert contact.email_consent == Consent.GRANTED
    assert "Stop receiving our e-mails?" in response.content.decode()
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.parametrize("token", ["1:forged", "abc", "99999:" + "x" * 43, "%00"])
def test_it_refuses_a_forged_link_politely(client, token):
    response = client.post(f"/u/{token}/")
    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()


def test_it_previews_in_the_persons_language_and_says_when_it_falls_back(staff_client, template):
    contact = ContactFactory.create(
        first_name="Łucja", preferred_language=Language.objects.get(code="pl")
    )
    url = reverse("followups:create") + f"?contact={contact.pk}"
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = staff_client.post(
        url, {"template": template.pk, "send_date": tomorrow, "send_time": "09:00", "preview": "1"}
    )
    body = response.content.decode()
    assert "Notes for Łucja" in body
    assert "has no Polish version: the English one will be sent" in body
    assert not FollowUp.objects.exists()


def test_it_schedules_at_the_persons_local_time(staff_client, outreach_staffer, template):
    contact = ContactFactory.create(country="GR", timezone="Europe/Athens")
    url = reverse("followups:create") + f"?contact={contact.pk}"
    response = staff_client.post(
        url,
        {"template": template.pk, "send_date": "2027-07-01", "send_time": "09:30", "schedule": "1"},
    )
    assert response.status_code == 302
    followup = FollowUp.objects.get()
    assert followup.send_at == datetime(2027, 7, 1, 6, 30, tzinfo=UTC)
    assert followup.owner == outreach_staffer


def test_it_requires_a_template_or_a_written_email(staff_client):
    contact = ContactFactory.create()
    url = reverse("followups:create") + f"?contact={contact.pk}"
    response = staff_client.post(
        url, {"send_date": "2027-07-01", "send_time": "09:30", "schedule": "1"}
    )
    form = response.context["form"]
    assert form.errors["subject"] == ["Choose a template or write a subject."]
    assert form.errors["body"] == ["Write the text of the e-mail."]
    assert not FollowUp.objects.exists()


def test_it_explains_why_an_opted_out_person_cannot_get_one(staff_client, template):
    contact = ContactFactory.create(
        first_name="Jens", last_name="Opted", email_consent=Consent.WITHDRAWN
    )
    url = reverse("followups:create") + f"?contact={contact.pk}"
    response = staff_client.post(
        url,
        {"template": template.pk, "send_date": "2027-07-01", "send_time": "09:00", "schedule": "1"},
    )
    assert "Jens Opted has withdrawn consent to e-mails." in response.content.decode()
    assert not FollowUp.objects.exists()


def test_it_schedules_from_the_consultation_form_for_everyone_who_can_be_emailed(
    staff_client, template
):
    reachable = ContactFactory.create(country="PL", timezone="Europe/Warsaw")
    unreachable = ContactFactory.create(first_name="No", last_name="Mail", email="")
    response = staff_client.post(
        reverse("outreach:consultation_create"),
        {
            "submission_key": str(uuid.uuid4()),
            "starts_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "status": "held",
            "format": "in_person",
            "position": "support",
            "unions": [str(UnionFactory.create().pk)],
            "attendees": [str(reachable.pk), str(unreachable.pk)],
            "attendee_roles": ["speaker", "participant"],
            "follow_up_template": str(template.pk),
            "follow_up_date": "2027-06-02",
            "follow_up_time": "09:00",
            "new-TOTAL_FORMS": "0",
            "new-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    [followup] = FollowUp.objects.all()
    assert followup.contact == reachable
    assert followup.send_at == datetime(2027, 6, 2, 7, 0, tzinfo=UTC)
    body = response.content.decode()
    assert "1 follow-up e-mail scheduled." in body
    assert "No follow-up for No Mail: No Mail has no e-mail address." in body


def test_it_asks_for_the_day_when_a_follow_up_template_is_chosen(staff_client, template):
    response = staff_client.post(
        reverse("outreach:consultation_create"),
        {
            "submission_key": str(uuid.uuid4()),
            "starts_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "status": "held",
            "format": "in_person",
            "position": "support",
            "unions": [str(UnionFactory.create().pk)],
            "follow_up_template": str(template.pk),
            "new-TOTAL_FORMS": "0",
            "new-INITIAL_FORMS": "0",
        },
    )
    assert response.context["form"].errors["follow_up_date"] == [
        "Choose the day to send the follow-up."
    ]


def test_it_lists_my_follow_ups_by_what_needs_attention(staff_client, outreach_staffer):
    now = timezone.now()
    FollowUpFactory.create(owner=outreach_staffer, subject="Late", send_at=now - timedelta(hours=2))
    FollowUpFactory.create(
        owner=outreach_staffer, subject="Broken", status=Status.FAILED, last_error="550 nope"
    )
    FollowUpFactory.create(owner=outreach_staffer, subject="Unclear", status=Status.UNKNOWN)
    FollowUpFactory.create(owner=outreach_staffer, subject="Soon", send_at=now + timedelta(days=3))
    FollowUpFactory.create(subject="Not mine", send_at=now - timedelta(hours=2))
    sections = {
        s.key: [f.subject for f in s.followups]
        for s in staff_client.get(reverse("followups:list")).context["sections"]
    }
    assert sections["overdue"] == ["Late"]
    assert sections["failed"] == ["Broken"]
    assert sections["review"] == ["Unclear"]
    assert sections["upcoming"] == ["Soon"]


def test_it_lets_the_owner_act_and_nobody_else(
    staff_client, outreach_staffer, django_capture_on_commit_callbacks
):
    mine = FollowUpFactory.create(owner=outreach_staffer)
    theirs = FollowUpFactory.create()
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(reverse("followups:action", args=[mine.pk, "send-now"]))
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.status == Status.QUEUED
    assert len(callbacks) == 1
    assert (
        staff_client.post(reverse("followups:action", args=[theirs.pk, "cancel"])).status_code
        == 403
    )
    assert (
        staff_client.post(reverse("followups:action", args=[mine.pk, "explode"])).status_code == 404
    )
    response = staff_client.post(reverse("followups:action", args=[mine.pk, "cancel"]), follow=True)
    assert "cannot be changed now" in response.content.decode()


def test_it_reschedules_in_the_persons_time_zone(staff_client, outreach_staffer):
    followup = FollowUpFactory.create(
        owner=outreach_staffer, contact__timezone="America/Toronto", contact__country="CA"
    )
    response = staff_client.post(
        reverse("followups:reschedule", args=[followup.pk]),
        {"send_date": "2027-11-02", "send_time": "08:15"},
    )
    assert response.status_code == 302
    followup.refresh_from_db()
    assert followup.send_at == datetime(2027, 11, 2, 12, 15, tzinfo=UTC)


def test_it_previews_each_template_version_with_a_sample_person(staff_client):
    template = EmailTemplate.objects.get(name="Thank you after a consultation")
    polish = template.versions.get(language="pl")
    response = staff_client.get(reverse("followups:templates"), {"preview": polish.pk})
    body = response.content.decode()
    assert "Dziękujemy za spotkanie, Maria" in body
    assert "{{ first_name }}" in body  # the documented merge fields
    assert staff_client.get(reverse("followups:templates"), {"preview": "x"}).status_code == 200


def test_it_schedules_once_when_the_form_is_sent_twice(staff_client, template):
    contact = ContactFactory.create(country="GR", timezone="Europe/Athens")
    url = reverse("followups:create") + f"?contact={contact.pk}"
    data = {
        "template": template.pk,
        "send_date": "2027-07-01",
        "send_time": "09:30",
        "schedule": "1",
        "submission_key": str(uuid.uuid4()),
    }
    assert staff_client.post(url, data).status_code == 302
    assert staff_client.post(url, data).status_code == 302
    assert FollowUp.objects.count() == 1


@pytest.mark.parametrize(
    ("day", "error"), [("9999-12-31", "before the year 9999"), ("2020-01-01", "has passed already")]
)
def test_it_refuses_impossible_or_past_times_without_a_server_error(
    staff_client, template, day, error
):
    contact = ContactFactory.create(country="CA", timezone="America/Toronto")
    url = reverse("followups:create") + f"?contact={contact.pk}"
    response = staff_client.post(
        url, {"template": template.pk, "send_date": day, "send_time": "23:00"}
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not FollowUp.objects.exists()


def test_it_says_whose_clock_it_is_when_the_person_has_no_time_zone(staff_client):
    contact = ContactFactory.create(country="US", timezone="")
    response = staff_client.get(reverse("followups:create") + f"?contact={contact.pk}")
    assert "Their time zone is not known" in response.content.decode()


def test_it_offers_only_templates_with_an_english_version(staff_client, template):
    polish_only = EmailTemplate.objects.create(name="Tylko po polsku")
    EmailTemplateVersion.objects.create(
        template=polish_only,
        language=Language.objects.get(code="pl"),
        subject="Temat",
        body_text="Treść",
    )
    contact = ContactFactory.create()
    body = staff_client.get(reverse("followups:create") + f"?contact={contact.pk}").content.decode()
    assert "Notes" in body
    assert "Tylko po polsku" not in body


def test_it_keeps_which_question_the_person_answered_to_unsubscribe(client):
    contact = ContactFactory.create(email_consent=Consent.GRANTED)
    other = ContactFactory.create(email_consent=Consent.GRANTED)
    client.post(reverse("unsubscribe", args=[unsubscribe_token(contact)]))
    client.post(
        reverse("unsubscribe", args=[unsubscribe_token(other)]),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    page, button = (
        ConsentRecord.objects.get(contact=contact),
        ConsentRecord.objects.get(contact=other),
    )
    assert (page.question, page.answer, page.source) == (
        "Stop receiving our e-mails?",
        Consent.WITHDRAWN,
        "unsubscribe",
    )
    assert button.question == "Unsubscribe (the one-click button of the e-mail program)"
