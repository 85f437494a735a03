"""Whatever text is typed into the outreach forms and filters (the consultation log, follow-ups,
the public "Share your voice" form, moderation): a form error or the value stored as typed
(trimmed) and shown escaped, never a server error.

The public form is open to anyone: what it stores is read later by staff, and what staff publish
is read by everyone, so markup must come out of every page as text.
"""

from __future__ import annotations

import codecs
import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import iri_to_uri
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from hypothesis import example, given
from hypothesis import strategies as st

from crm.models import Contact
from outreach.comment_forms import form_token
from outreach.models import (
    Consultation,
    EmailTemplateVersion,
    FollowUp,
    PublicComment,
)
from outreach.services import comments as comment_services
from tests.factories import (
    ConsultationFactory,
    ContactFactory,
    FollowUpFactory,
    PublicCommentFactory,
    UnionFactory,
)
from tests.hostile_text import (
    FAR_CLOCKS,
    FEW,
    TEXT,
    WHEN,
    assert_answered,
    assert_form_refused,
    assert_no_raw_markup,
    assert_shows,
    on_clock,
    rolled_back,
)

pytestmark = pytest.mark.django_db


def _log(union_pk: int, **fields: str) -> dict[str, object]:
    data: dict[str, object] = {
        "submission_key": str(uuid.uuid4()),
        "starts_at": (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "status": "held",
        "format": "in_person",
        "position": "support",
        "unions": [str(union_pk)],
        "new-TOTAL_FORMS": "0",
        "new-INITIAL_FORMS": "0",
    }
    data.update(fields)
    return data


CONSULTATION_TEXT = ["title", "city", "summary", "outcomes", "commitments"]
MULTILINE = {"summary", "outcomes", "commitments"}
# A new person met at the consultation, typed in the same form.
NEW_PERSON = ["new-0-first_name", "new-0-last_name", "new-0-email"]
CONSULTATION_OTHER = [
    "starts_at",
    "status",
    "format",
    "position",
    "topics",
    "concerns",
    "languages",
    "other_staff",
    "site",
    "country",
    "interpreter_present",
    "unions",
    "attendees",
    "attendee_roles",
    "follow_up_template",
    "follow_up_date",
    "follow_up_time",
    "submission_key",
    "new-0-union",
    "new-0-role",
    "new-TOTAL_FORMS",
    "new-INITIAL_FORMS",
]


def _consultation_post(union_pk: int, field: str, typed: str) -> dict[str, object]:
    data = _log(union_pk)
    if field.startswith("new-"):
        data.update(
            {
                "new-TOTAL_FORMS": "1",
                "new-0-first_name": "Ioana",
                "new-0-last_name": "Țurcanu",
                "new-0-email": "",
                "new-0-role": "participant",
            }
        )
    data[field] = typed
    return data


def _check_consultation(client, consultation: Consultation, field: str, typed: str) -> None:
    expected = typed.strip()
    page = client.get(consultation.get_absolute_url())
    if field in CONSULTATION_TEXT:
        if field != "title" or expected:
            assert getattr(consultation, field) == expected
        if expected:
            assert_shows(page, expected, multiline=field in MULTILINE)
    elif field in NEW_PERSON[:2]:
        person = consultation.attendees.get()
        assert getattr(person, field.removeprefix("new-0-")) == expected
        assert_shows(page, person.full_name)
    assert_no_raw_markup(page, typed)
    listed = client.get(reverse("outreach:consultation_list"))
    assert_shows(listed, consultation.title)


def _read_on_far_clocks(reader, *urls: str) -> None:
    """Colleagues on the clocks furthest from UTC open the pages that show what was saved."""
    for zone in FAR_CLOCKS:
        on_clock(reader, zone)
        for url in urls:
            page = reader.get(url)
            assert_answered(page)
            assert page.status_code == 200


@FEW
@given(
    field=st.sampled_from(CONSULTATION_TEXT + NEW_PERSON + CONSULTATION_OTHER),
    typed=WHEN,
    clock=st.sampled_from(["UTC", *FAR_CLOCKS]),
)
@example(field="title", typed="<script>alert(1)</script>", clock="UTC")
@example(field="summary", typed="=1+1\r\n@SUM(A1)\n\u202e", clock="UTC")
@example(field="new-0-last_name", typed='"><img src=x onerror=1>', clock="UTC")
@example(field="new-TOTAL_FORMS", typed="1000000", clock="UTC")
@example(field="city", typed="a\x00b", clock="UTC")
# Once saved, and then a server error on the pages of staff on clocks past the calendar's end.
@example(field="starts_at", typed="0001-01-01T00:00", clock="UTC")
@example(field="starts_at", typed="9999-12-31T23:59", clock="Pacific/Kiritimati")
def test_it_logs_a_consultation_or_says_what_is_wrong(
    staff_client, manager_client, field, typed, clock
):
    on_clock(staff_client, clock)
    with rolled_back():
        union = UnionFactory.create()
        response = staff_client.post(
            reverse("outreach:consultation_create"), _consultation_post(union.pk, field, typed)
        )
        assert_answered(response)
        if response.status_code == 302:
            consultation = Consultation.objects.get()
            _check_consultation(staff_client, consultation, field, typed)
            _read_on_far_clocks(
                manager_client,
                consultation.get_absolute_url(),
                reverse("outreach:consultation_list"),
                reverse("reports:dashboard"),
            )
        else:
            assert_form_refused(response, "form", "new_people")
            assert_no_raw_markup(response, typed)
            assert not Consultation.objects.exists()


@FEW
@given(
    field=st.sampled_from(CONSULTATION_TEXT + NEW_PERSON + ["attendees", "unions", "starts_at"]),
    typed=WHEN,
)
@example(field="commitments", typed="<script>alert(1)</script>\r\n")
def test_it_edits_a_consultation_or_says_what_is_wrong(
    staff_client, outreach_staffer, field, typed
):
    with rolled_back():
        union = UnionFactory.create()
        consultation = ConsultationFactory.create(
            lead=outreach_staffer, created_by=outreach_staffer, title="Before"
        )
        consultation.unions.add(union)
        response = staff_client.post(
            reverse("outreach:consultation_update", args=[consultation.pk]),
            _consultation_post(union.pk, field, typed),
        )
        assert_answered(response)
        consultation.refresh_from_db()
        if response.status_code == 302:
            _check_consultation(staff_client, consultation, field, typed)
        else:
            assert_form_refused(response, "form", "new_people")
            assert_no_raw_markup(response, typed)
            assert consultation.title == "Before"


def _followup_post(**fields: str) -> dict[str, str]:
    tomorrow = timezone.localdate() + timedelta(days=2)
    return {
        "template": "",
        "subject": "Thank you",
        "body": "Thank you for meeting us.",
        "send_date": tomorrow.isoformat(),
        "send_time": "23:30",  # late: with a date typed at the calendar's end, it passes it
        "submission_key": str(uuid.uuid4()),
        **fields,
    }


@FEW
@given(
    field=st.sampled_from(
        ["subject", "body", "template", "send_date", "send_time", "submission_key"]
    ),
    typed=WHEN,
    preview=st.booleans(),
)
@example(field="subject", typed="Hello\r\nBcc: everyone@example.org", preview=True)
@example(field="body", typed="<script>alert(1)</script>{{ first_name }}", preview=True)
@example(field="subject", typed="{{ nope }}", preview=False)
@example(field="send_time", typed="25:61", preview=False)
@example(field="send_date", typed="9999-12-31", preview=False)
def test_it_schedules_a_followup_or_says_what_is_wrong(
    staff_client, manager_client, field, typed, preview
):
    with rolled_back():
        contact = ContactFactory.create(first_name="Anna", last_name="Nowak")
        url = reverse("followups:create") + f"?contact={contact.pk}"
        data = _followup_post(**{field: typed})
        if preview:
            data["preview"] = "1"
        response = staff_client.post(url, data)
        assert_answered(response)
        assert_no_raw_markup(response, typed)
        if response.status_code == 302:
            followup = FollowUp.objects.get()
            if field in {"subject", "body"}:
                assert getattr(followup, field) == typed.strip()
            if field == "subject":
                assert_shows(staff_client.get(reverse("followups:list")), followup.subject)
            _read_on_far_clocks(
                manager_client,
                reverse("followups:list") + "?all=1",
                followup.contact.get_absolute_url(),
            )
        elif preview and "preview" in response.context and response.context["preview"]:
            # The e-mail as it would go out: shown, escaped, nothing saved.
            assert_shows(response, response.context["preview"].subject)
            assert not FollowUp.objects.exists()
        else:
            assert_form_refused(response, "form")
            assert not FollowUp.objects.exists()


@FEW
@given(field=st.sampled_from(["send_date", "send_time"]), typed=WHEN)
@example(field="send_date", typed="0001-01-01")
# Once saved, and then a server error on the pages of staff on clocks past the calendar's end.
@example(field="send_date", typed="9999-12-31")
def test_it_reschedules_a_followup_or_says_what_is_wrong(
    staff_client, manager_client, outreach_staffer, field, typed
):
    with rolled_back():
        followup = FollowUpFactory.create(owner=outreach_staffer)
        before = followup.send_at
        data = {
            "send_date": (timezone.localdate() + timedelta(days=3)).isoformat(),
            "send_time": "23:30",
            field: typed,
        }
        response = staff_client.post(reverse("followups:reschedule", args=[followup.pk]), data)
        assert_answered(response)
        followup.refresh_from_db()
        if response.status_code == 302:
            _read_on_far_clocks(
                manager_client,
                reverse("followups:list") + "?all=1",
                followup.contact.get_absolute_url(),
            )
        else:
            assert_form_refused(response, "form")
            assert followup.send_at == before


@FEW
@given(typed=TEXT)
@example(typed="//evil.example/")
@example(typed="/\\evil.example")
@example(typed="/ok\r\nSet-Cookie: x=1")
@example(typed="javascript:alert(1)")
# Once a server error: redirect() took a word that is no path for the name of a view.
@example(typed="0")
@example(typed="followups:templates")
def test_it_goes_back_only_to_a_page_of_this_site(staff_client, outreach_staffer, typed):
    with rolled_back():
        followup = FollowUpFactory.create(owner=outreach_staffer)
        response = staff_client.post(
            reverse("followups:action", args=[followup.pk, "cancel"]), {"next": typed}
        )
        assert_answered(response)
        assert response.status_code == 302
        location = response["Location"]
        assert location.startswith("/")
        assert url_has_allowed_host_and_scheme(location, allowed_hosts={"testserver"})
        if location != reverse("followups:list"):
            assert location == iri_to_uri(typed)


# The public form


@pytest.fixture
def public_form(settings, redis_url):
    """The real cache, under a prefix of the test's own, with limits no example reaches: the
    limits are tested in test_views_comments.py; here every post must reach the form."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"test-forms-text-{uuid.uuid4().hex}",
        }
    }
    settings.PUBLIC_COMMENT_RATE_PER_MINUTE = settings.PUBLIC_COMMENT_RATE_PER_HOUR = 10_000
    settings.PUBLIC_COMMENT_MIN_SECONDS = 3
    settings.PUBLIC_COMMENT_MAX_LENGTH = 5000


PUBLIC_TEXT = ["comment", "name", "email", "union_name"]
PUBLIC_OTHER = [
    "country",
    "trade",
    "role",
    "language",
    "consent_to_publish",
    "updates_opt_in",
    "website",  # the trap for programs
    "shown",  # the signed time the form was shown
]


@FEW
@given(field=st.sampled_from(PUBLIC_TEXT + PUBLIC_OTHER), typed=TEXT)
@example(field="comment", typed="<script>alert(1)</script>")
@example(field="name", typed='"><img src=x onerror=1>\u202e')
@example(field="comment", typed='=HYPERLINK("http://x")\x00')
@example(field="comment", typed="é" * 5001)
@example(field="union_name", typed="\u200fIG Metall\u200d")
def test_it_takes_a_public_comment_or_says_what_is_wrong(
    client, staff_client, outreach_staffer, public_form, field, typed
):
    with rolled_back():
        data = {
            "comment": "Training together is fine if the work stays here.",
            "name": "Anna Nowak",
            "email": "anna@example.org",
            "language": "en",
            "consent_to_publish": "yes",
            "shown": form_token(language="en", shown_at=time.time() - 10),
            field: typed,
        }
        response = client.post(reverse("voice:submit"), data)
        assert_answered(response)
        assert_no_raw_markup(response, typed)
        if response.status_code != 302:
            if field != "shown":  # a token that does not read is said above the form
                assert_form_refused(response, "form")
            assert not PublicComment.objects.exists()
            return
        comment = PublicComment.objects.get()
        expected = " ".join(typed.split()) if field == "name" else typed.strip()
        if field in {"comment", "name", "union_name"}:
            assert getattr(comment, field) == expected
        page = staff_client.get(comment.get_absolute_url())
        if field in PUBLIC_TEXT and expected:
            assert_shows(page, getattr(comment, field), multiline=field == "comment")
        assert_no_raw_markup(page, typed)
        if comment.consent_to_publish and comment.status != PublicComment.Status.SPAM:
            comment_services.public_comment_publish(comment=comment, by=outreach_staffer)
            published = client.get(reverse("voice:published"))
            if field in {"comment", "name", "union_name"} and expected:
                assert_shows(published, expected, multiline=field == "comment")
            assert_no_raw_markup(published, typed)


@FEW
@given(
    form=st.sampled_from(["note", "contact", "union"]),
    action=st.sampled_from(["review", "publish", "hide", "spam"]),
    typed=TEXT,
)
@example(form="note", action="review", typed="<script>alert(1)</script>")
@example(form="note", action="hide", typed="x" * 2001)
@example(form="note", action="spam", typed="\x00")
@example(form="contact", action="review", typed="99999999999999999999")
def test_it_moderates_with_any_note_or_says_what_is_wrong(
    staff_client, manager_client, form, action, typed
):
    with rolled_back():
        comment = PublicCommentFactory.create(moderation_note="")
        if form == "note":
            url = reverse("comments:moderate", args=[comment.pk, action])
        elif form == "contact":
            url = reverse("comments:link_contact", args=[comment.pk])
        else:
            url = reverse("comments:set_union", args=[comment.pk])
        response = staff_client.post(url, {form: typed})
        assert_answered(response)
        # Refused or done, the moderator is back on the comment, told what happened.
        assert response.status_code == 302
        page = staff_client.get(response["Location"])
        assert_answered(page)
        assert_no_raw_markup(page, typed)
        comment.refresh_from_db()
        if form == "note" and comment.moderation_note:
            assert comment.moderation_note == typed.strip()
            assert_shows(page, comment.moderation_note, multiline=True)
        elif form == "note":
            assert not typed.strip() or "\x00" in typed or len(typed.strip()) > 2000


GET_FILTERS = {
    "outreach:consultation_list": [
        "date_from",
        "date_to",
        "country",
        "union",
        "topic",
        "position",
        "staff",
        "status",
        "page",
    ],
    "outreach:consultation_mine": ["date_from", "status", "page"],
    "outreach:search_unions": ["q"],
    "outreach:search_contacts": ["q"],
    "comments:list": ["q", "status", "country", "union", "page"],
    "comments:detail": ["find"],
    "followups:list": ["all"],
    "followups:templates": ["preview"],
    "followups:create": ["contact", "consultation"],
    "voice:published": ["page"],
    "reports:dashboard": [
        "date_from",
        "date_to",
        "country",
        "union",
        "sector",
        "topic",
        "staff",
        "format",
    ],
}
# Files made from the same filters, written while they are sent.
EXPORTS = {
    "outreach:consultation_export": [],
    "outreach:consultation_export_xlsx": [],
    "reports:consultations_export": ["csv"],
    "reports:table_export": ["summary", "csv"],
}


@pytest.fixture
def listed(outreach_staffer) -> PublicComment:
    """Something for the lists to show, made once per test: searches write nothing."""
    union = UnionFactory.create(name="IG Metall")
    consultation = ConsultationFactory.create(lead=outreach_staffer)
    consultation.unions.add(union)
    FollowUpFactory.create(owner=outreach_staffer, consultation=consultation)
    return PublicCommentFactory.create(union=union)


@FEW
@given(
    name=st.sampled_from([*GET_FILTERS, *EXPORTS]),
    data=st.data(),
    typed=WHEN,
    clock=st.sampled_from(["UTC", *FAR_CLOCKS]),
)
@example(name="comments:detail", data=None, typed="\x00", clock="UTC")
@example(name="outreach:search_contacts", data=None, typed="<script>alert(1)</script>", clock="UTC")
@example(name="reports:dashboard", data=None, typed="0001-01-01", clock="Pacific/Kiritimati")
@example(name="comments:list", data=None, typed=" IG Metall\t", clock="UTC")
def test_it_answers_any_search_or_filter(admin_client_, listed, name, data, typed, clock):
    on_clock(admin_client_, clock)
    parameters = GET_FILTERS.get(name) or ["date_from", "country", "union", "staff", "format"]
    if data is None:
        parameter = {"comments:detail": "find", "reports:dashboard": "date_from"}.get(name, "q")
    else:
        parameter = data.draw(st.sampled_from(parameters))
    if name.startswith("comments:detail"):
        url = reverse(name, args=[listed.pk])
    elif name in EXPORTS:
        url = reverse(name, args=EXPORTS[name])
    else:
        url = reverse(name)
    query = {parameter: typed}
    if name == "followups:create" and parameter != "contact":
        query["contact"] = str(ContactFactory.create().pk)
    response = admin_client_.get(url, query)
    assert_answered(response)
    assert response.status_code in {200, 404}  # 404: a follow-up for a contact that is not there
    if name in EXPORTS:
        # A file is written while it is sent: an error there would come after the status.
        content = b"".join(response.streaming_content) if response.streaming else response.content
        assert content.removeprefix(codecs.BOM_UTF8)
    else:
        assert_no_raw_markup(response, typed)
        searched = typed.strip() if parameter == "find" else typed
        shown = name.startswith("comments:") and parameter in {"q", "find"}
        if shown and searched and len(typed) <= 200:
            # The search box shows what was searched for, escaped.
            assert f'value="{escape(searched)}"' in response.content.decode()


def test_it_counts_new_people_typed_with_markup_as_contacts(staff_client):
    """The new person's name reaches the contact list as text."""
    union = UnionFactory.create()
    staff_client.post(
        reverse("outreach:consultation_create"),
        _consultation_post(union.pk, "new-0-last_name", "<script>alert(1)</script>"),
    )
    contact = Contact.objects.get(last_name="<script>alert(1)</script>")
    listed = staff_client.get(reverse("crm:contact_list"), {"q": "script"})
    assert_shows(listed, contact.last_name)


@FEW
@given(field=st.sampled_from(["name", "subject", "body_text", "body_html"]), typed=TEXT)
@example(field="subject", typed="{{ first_name }}<script>alert(1)</script>")
@example(field="body_text", typed="{{ first_name.__class__ }}")
@example(field="body_html", typed="<img src=x onerror=1>{{ union }}")
def test_it_saves_an_email_template_or_says_what_is_wrong(
    admin_client_, staff_client, field, typed
):
    """Administrators write the templates (in the admin); staff preview and send them."""
    with rolled_back():
        version = {
            "language": "en",
            "subject": "Thank you, {{ first_name }}",
            "body_text": "Thank you for meeting us.",
            "body_html": "",
        }
        data = {
            "name": "After the site visit",
            "purpose": "thank_you",
            "active": "on",
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "0",
            "versions-MIN_NUM_FORMS": "0",
            "versions-MAX_NUM_FORMS": "1000",
            **{f"versions-0-{key}": value for key, value in version.items()},
        }
        data["name" if field == "name" else f"versions-0-{field}"] = typed
        before = EmailTemplateVersion.objects.count()
        response = admin_client_.post(reverse("admin:outreach_emailtemplate_add"), data)
        assert_answered(response)
        if response.status_code != 302:
            assert response.status_code == 200
            assert response.context["errors"]
            assert_no_raw_markup(response, typed)
            assert EmailTemplateVersion.objects.count() == before
            return
        saved = EmailTemplateVersion.objects.latest("pk")
        if field != "name":
            # Typed in a textarea or a text box: stored trimmed, as every other box.
            assert getattr(saved, field) == typed.strip()
        page = staff_client.get(reverse("followups:templates"), {"preview": saved.pk})
        assert_answered(page)
        assert page.status_code == 200
        assert_no_raw_markup(page, typed)
        assert_shows(page, page.context["preview"].subject)


@FEW
@given(token=TEXT, method=st.sampled_from(["get", "post"]))
@example(token="1:forged", method="post")
@example(token="<script>alert(1)</script>", method="get")
def test_it_answers_any_unsubscribe_link(client, token, method):
    # The link's only variable part is one path segment: no "/" in it.
    token = token.replace("/", "") or "x"
    url = reverse("unsubscribe", args=[token])
    response = client.get(url) if method == "get" else client.post(url)
    assert_answered(response)
    assert response.status_code == 404
    assert_no_raw_markup(response, token)


@FEW
@given(
    header=st.sampled_from(["HTTP_ACCEPT_LANGUAGE", "HTTP_X_FORWARDED_FOR", "HTTP_HX_REQUEST"]),
    typed=TEXT,
)
@example(header="HTTP_X_FORWARDED_FOR", typed="203.0.113.9, \x00")
@example(header="HTTP_ACCEPT_LANGUAGE", typed="pl;q=NaN, *;q=-1")
def test_it_answers_the_public_form_whatever_the_headers(
    client, settings, public_form, header, typed
):
    settings.TRUSTED_PROXY_COUNT = 1
    with rolled_back():
        value = typed.replace("\r", "").replace("\n", "")  # a header is one line
        shown = client.get(reverse("voice:submit"), **{header: value})
        assert_answered(shown)
        data = {
            "comment": "Training together is fine if the work stays here.",
            "language": "en",
            "shown": form_token(language="en", shown_at=time.time() - 10),
        }
        response = client.post(reverse("voice:submit"), data, **{header: value})
        assert_answered(response)
        assert response.status_code == 302
        assert PublicComment.objects.get().comment == data["comment"]
