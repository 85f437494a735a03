"""Public comments through the web: the public form and its defences, the published comments
page, and the staff's moderation queue."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Consent, ConsentSource, Contact
from outreach.comment_forms import form_token
from outreach.models import PublicComment
from tests.factories import ContactFactory, PublicCommentFactory, UnionFactory, UserFactory

pytestmark = pytest.mark.django_db
Status = PublicComment.Status
SUBMIT = "/voice/"
PUBLISHED = "/voice/comments/"
QUEUE = "/comments/"
CONSENT_QUESTION = "May we post your comment for others to see and review?"
PAYLOAD = '<script>alert("x")</script><b>bold</b>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;"


@pytest.fixture(autouse=True)
def own_cache(settings):
    """Posts are counted in a cache of the test's own: no test (or earlier run) uses up
    another's rate limit."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"comments-{uuid.uuid4()}",
        }
    }
    settings.PUBLIC_COMMENT_RATE_PER_MINUTE = 5
    settings.PUBLIC_COMMENT_RATE_PER_HOUR = 30
    settings.PUBLIC_COMMENT_MIN_SECONDS = 3
    settings.PUBLIC_COMMENT_MAX_LENGTH = 5000


@pytest.fixture
def redis_cache(settings, redis_url):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"test-comments-{uuid.uuid4().hex}",
        }
    }


def post(
    client: Client,
    *,
    ip: str = "203.0.113.5",
    forwarded_for: str | None = None,
    shown_ago: float = 10,
    **fields,
):
    extra: dict[str, Any] = {"REMOTE_ADDR": ip}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    data = {
        "comment": "Training together is fine if the work stays here.",
        "language": "en",
        "shown": form_token(language="en", shown_at=time.time() - shown_ago),
        **fields,
    }
    return client.post(SUBMIT, data, **extra)


# The public form


def test_it_shows_the_form_to_anyone_without_the_staff_navigation(client, staff_client):
    for visitor in (client, staff_client):
        response = visitor.get(SUBMIT)
        body = response.content.decode()
        assert response.status_code == 200
        assert CONSENT_QUESTION in body
        assert "data-nav=" not in body
        # "No" until the person says yes.
        assert re.search(
            r'<input type="radio" name="consent_to_publish" value="no"[^>]* checked>', body
        )
        assert not re.search(r'value="yes"[^>]* checked>', body)
        assert response["Cache-Control"].startswith("max-age=0")


def test_it_offers_the_language_of_the_page(client):
    body = client.get(SUBMIT, HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert '<option value="pl" selected>Polski</option>' in body


def test_it_takes_an_anonymous_comment_and_thanks(client):
    response = post(client, comment="Anonymous and fine.")
    assert response.status_code == 302
    assert response["Location"] == "/voice/thanks/"
    assert "Thank you for your comment" in client.get(response["Location"]).content.decode()
    comment = PublicComment.objects.get()
    assert comment.comment == "Anonymous and fine."
    assert comment.status == Status.NEW
    # The answer defaults to no; the question is kept as it was shown.
    assert comment.consent_to_publish is False
    assert comment.consent_question == CONSENT_QUESTION
    assert comment.updates_question == "Yes, send me updates about the campaign by e-mail."
    assert not Contact.objects.exists()


def test_it_takes_every_field_and_the_opt_in(client):
    response = post(
        client,
        comment="Zertifikate müssen gegenseitig anerkannt werden.",
        name="Jürgen Weber",
        email="juergen@example.de",
        union_name="IG Metall",
        country="DE",
        trade="welder",
        role="shop_steward",
        language="de",
        consent_to_publish="yes",
        updates_opt_in="on",
    )
    assert response.status_code == 302
    comment = PublicComment.objects.get()
    assert comment.consent_to_publish is True
    assert (comment.name, comment.union_name, comment.language) == (
        "Jürgen Weber",
        "IG Metall",
        "de",
    )
    contact = Contact.objects.get()
    assert comment.contact == contact
    assert contact.email_consent == Consent.GRANTED
    assert contact.email_consent_source == ConsentSource.PUBLIC_FORM


@pytest.mark.parametrize("empty", ["", "   \n  "])
def test_it_asks_for_the_comment_and_keeps_the_rest(client, empty):
    response = post(client, comment=empty, name="Ελένη Παππά")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Please write your comment." in body
    assert 'value="Ελένη Παππά"' in body
    assert not PublicComment.objects.exists()


def test_it_refuses_a_10000_character_comment_naming_the_limit_and_keeping_the_text(client):
    text = "Ж" * 9_990 + " конец."
    assert len(text) == 9_997
    response = post(client, comment=text + "xyz")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Your comment is 10,000 characters long; the limit is 5,000." in body
    assert f"{text}xyz</textarea>" in body
    assert not PublicComment.objects.exists()


def test_it_asks_for_an_address_to_send_updates_to(client):
    response = post(client, updates_opt_in="on", comment="Keep me posted.")
    body = response.content.decode()
    assert "Please give your email address so that we can send you updates." in body
    assert "Keep me posted.</textarea>" in body


def test_it_answers_a_post_too_large_to_read_politely(client, settings):
    settings.PUBLIC_COMMENT_MAX_BYTES = 64 * 1024
    response = post(client, comment="x" * 100_000)
    assert response.status_code == 413
    body = response.content.decode()
    assert "Your comment is too long to send" in body
    assert "up to 5,000 characters" in body
    assert not PublicComment.objects.exists()


def test_it_still_checks_the_csrf_token(settings):
    client = Client(enforce_csrf_checks=True)
    response = post(client)
    assert response.status_code == 403
    assert not PublicComment.objects.exists()
    page = client.get(SUBMIT)
    token = page.cookies["csrftoken"].value
    assert post(client, csrfmiddlewaretoken=token).status_code == 302


@pytest.mark.parametrize(
    ("shown_ago", "message"),
    [
        (0, "That was quick! Please check your comment and send it again."),
        (1, "That was quick!"),
        (3 * 24 * 3600, "This page was open for a long time. Your text is still here"),
    ],
)
def test_it_sends_a_form_sent_too_soon_or_too_late_back_with_the_text(client, shown_ago, message):
    response = post(client, shown_ago=shown_ago, comment="My careful words.")
    body = response.content.decode()
    assert message in body
    assert "My careful words.</textarea>" in body
    assert not PublicComment.objects.exists()
    # The form comes back with a new time: sent again a little later, it goes through.
    with time_machine.travel(time.time() + 5):
        again = post(client, shown_ago=4, comment="My careful words.")
    assert again.status_code == 302


@pytest.mark.parametrize("shown", ["", "forged", "unknown language"])
def test_it_sends_a_form_without_a_valid_time_back_with_the_text(client, shown):
    if shown == "unknown language":
        shown = form_token(language="xx", shown_at=time.time() - 10)
    response = client.post(SUBMIT, {"comment": "Still mine.", "shown": shown})
    body = response.content.decode()
    assert "This page was open for a long time." in body
    assert "Still mine.</textarea>" in body
    assert not PublicComment.objects.exists()


def test_it_takes_the_same_form_sent_twice_once(client):
    shown = form_token(language="en", shown_at=time.time() - 10)
    data = {"comment": "Sent with a double click.", "shown": shown}
    assert client.post(SUBMIT, data).status_code == 302
    assert client.post(SUBMIT, data).status_code == 302
    assert PublicComment.objects.count() == 1
    # The same page used again for another comment (the back button) is another comment.
    assert client.post(SUBMIT, {**data, "comment": "And a second thought."}).status_code == 302
    assert PublicComment.objects.count() == 2


def test_it_keeps_a_comment_caught_in_the_trap_as_spam_and_thanks_it_all_the_same(client):
    response = post(
        client, website="http://cheap.example", email="bot@example.org", updates_opt_in="on"
    )
    assert response.status_code == 302
    assert PublicComment.objects.get().status == Status.SPAM
    assert not Contact.objects.exists()


# Floods


def test_it_throttles_100_posts_a_minute_from_one_address_and_loses_none_before(
    client, redis_cache
):
    # A fixed instant, five seconds into a minute: the minute's window cannot end mid-test.
    with time_machine.travel(datetime(2026, 5, 4, 10, 0, 5, tzinfo=UTC), tick=False):
        responses = [
            post(client, ip="203.0.113.9", comment=f"Comment number {n}.") for n in range(100)
        ]
        elsewhere = post(client, ip="198.51.100.20", comment="From another address.")

    assert [r.status_code for r in responses[:5]] == [302] * 5
    assert [r.status_code for r in responses[5:]] == [429] * 95
    for n, response in enumerate(responses[5:], start=5):
        body = response.content.decode()
        assert f"Comment number {n}.</textarea>" in body
        assert "please wait 1 minute and send it again" in body
        assert response["Retry-After"] == "55"
    assert elsewhere.status_code == 302
    assert sorted(PublicComment.objects.values_list("comment", flat=True)) == sorted(
        [f"Comment number {n}." for n in range(5)] + ["From another address."]
    )


def test_it_throttles_by_the_hour_too(client, settings):
    settings.PUBLIC_COMMENT_RATE_PER_MINUTE = 100
    settings.PUBLIC_COMMENT_RATE_PER_HOUR = 3
    with time_machine.travel(datetime(2026, 5, 4, 10, 20, 0, tzinfo=UTC), tick=False):
        statuses = [post(client, comment=f"Hour {n}.").status_code for n in range(4)]
        refused = post(client, comment="Hour 4.")
    assert statuses == [302, 302, 302, 429]
    assert "please wait 40 minutes" in refused.content.decode()
    assert PublicComment.objects.count() == 3


def test_it_ignores_a_forwarded_for_header_nobody_vouches_for(client, settings):
    settings.PUBLIC_COMMENT_RATE_PER_MINUTE = 2
    with time_machine.travel(datetime(2026, 5, 4, 10, 0, 5, tzinfo=UTC), tick=False):
        statuses = [post(client, forwarded_for=f"192.0.2.{n}").status_code for n in range(3)]
    assert statuses == [302, 302, 429]


def test_it_counts_the_address_the_trusted_proxy_saw(client, settings):
    settings.PUBLIC_COMMENT_RATE_PER_MINUTE = 1
    settings.TRUSTED_PROXY_COUNT = 1
    with time_machine.travel(datetime(2026, 5, 4, 10, 0, 5, tzinfo=UTC), tick=False):
        first = post(client, ip="10.0.0.2", forwarded_for="203.0.113.1")
        other_client = post(client, ip="10.0.0.2", forwarded_for="203.0.113.2")
        # The same client writing a different address in front of the proxy's own.
        spoofed = post(client, ip="10.0.0.2", forwarded_for="192.0.2.99, 203.0.113.1")
    assert [first.status_code, other_client.status_code, spoofed.status_code] == [302, 302, 429]


def test_it_turns_posts_away_keeping_the_text_when_the_cache_is_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    response = post(client, comment="Said while Redis was away.")
    body = response.content.decode()
    assert response.status_code == 503
    assert "We cannot take comments at this moment" in body
    assert "Said while Redis was away.</textarea>" in body
    assert not PublicComment.objects.exists()


# What the public sees


def test_it_shows_html_and_script_in_every_field_as_text_on_every_page(client, staff_client):
    # Refused first (the choices are not valid): the form comes back with every value escaped.
    every_field: dict[str, Any] = dict.fromkeys(
        (
            "comment",
            "name",
            "email",
            "union_name",
            "country",
            "trade",
            "role",
            "language",
            "consent_to_publish",
        ),
        PAYLOAD,
    )
    refused = post(client, **every_field)
    assert refused.status_code == 200
    pages = [refused]
    accepted = post(
        client,
        comment=f"{PAYLOAD}\nsecond line",
        name=PAYLOAD,
        union_name=PAYLOAD,
        email="payload@example.org",
        consent_to_publish="yes",
        updates_opt_in="on",
    )
    assert accepted.status_code == 302
    comment = PublicComment.objects.get()
    assert comment.comment == f"{PAYLOAD}\nsecond line"
    staff_client.post(reverse("comments:moderate", args=[comment.pk, "publish"]))
    comment.refresh_from_db()
    assert comment.status == Status.PUBLISHED
    pages += [
        client.get(PUBLISHED),
        staff_client.get(QUEUE),
        staff_client.get(comment.get_absolute_url()),
        staff_client.get(comment.contact.get_absolute_url()),  # type: ignore[union-attr]
    ]
    for page in pages:
        body = page.content.decode()
        assert '<script>alert("x")' not in body
        assert "<b>bold" not in body
        assert "&lt;script&gt;alert(" in body
    assert f"{ESCAPED}<br>second line" in pages[1].content.decode()


def test_it_publishes_only_published_comments_given_with_consent(client):
    shown = PublicCommentFactory.create(status=Status.PUBLISHED, comment="Shown to all.")
    for status in (Status.NEW, Status.REVIEWED, Status.HIDDEN, Status.SPAM):
        PublicCommentFactory.create(status=status, comment=f"Kept back: {status}.")
    body = client.get(PUBLISHED).content.decode()
    assert "Shown to all." in body
    assert "Kept back" not in body
    assert shown.email not in body


def test_it_shows_the_newest_first_a_page_at_a_time(client, settings):
    settings.CRM_PAGE_SIZE = 2
    for day in (1, 3, 2):
        PublicCommentFactory.create(
            status=Status.PUBLISHED,
            comment=f"Day {day}.",
            received_at=datetime(2026, 4, day, 12, tzinfo=UTC),
        )
    first = client.get(PUBLISHED).content.decode()
    assert first.index("Day 3.") < first.index("Day 2.")
    assert "Day 1." not in first
    second = client.get(PUBLISHED, {"page": 2}).content.decode()
    assert "Day 1." in second
    assert "Day 3." not in second
    assert client.get(PUBLISHED, {"page": "nonsense"}).status_code == 200


def test_it_shows_only_what_the_commenter_gave(client):
    PublicCommentFactory.create(
        status=Status.PUBLISHED,
        name="Ayşe Yılmaz",
        email="ayse@example.org",
        union_name="Birleşik Metal-İş",
        country="TR",
        trade="cnc_operator",
        role="shop_steward",
    )
    PublicCommentFactory.create(
        status=Status.PUBLISHED, name="", email="", union_name="", country="", comment="Solo."
    )
    body = client.get(PUBLISHED).content.decode()
    for shown in ("Ayşe Yılmaz", "Birleşik Metal-İş", "Türkiye", "CNC operator", "Shop steward"):
        assert shown in body
    assert "Anonymous" in body
    assert "ayse@example.org" not in body


def test_it_never_shows_staff_data_or_addresses_on_a_public_url(client, outreach_staffer):
    moderator = UserFactory.create(username="moderator.mika", first_name="Mika")
    recognised = UnionFactory.create(name="Recognised By Staff Union", acronym="RBSU")
    linked = ContactFactory.create(email="linked.contact@example.org")
    PublicCommentFactory.create(
        status=Status.PUBLISHED,
        name="Visible Name",
        email="published.author@example.org",
        moderated_by=moderator,
        moderation_note="NOTE: checked with the steward",
        union=recognised,
        contact=linked,
    )
    for status in Status.values:
        PublicCommentFactory.create(
            status=status if status != Status.PUBLISHED else Status.NEW,
            name=f"Unpublished {status}",
            email=f"{status}.author@example.org",
            moderation_note=f"NOTE: {status} internal",
            moderated_by=outreach_staffer,
        )
    secrets = [
        "@example.org",
        "NOTE:",
        "moderator.mika",
        outreach_staffer.username,
        "Recognised By Staff Union",
        "RBSU",
        "Unpublished",
    ]
    refused = post(client, comment="", name="Someone new")  # the form sent back
    public = [
        client.get(SUBMIT),
        client.get("/voice/thanks/"),
        client.get(PUBLISHED),
        client.get(PUBLISHED, {"page": 2}),
        client.get("/u/not-a-token/"),
        client.get(reverse("login")),
        client.get(reverse("healthz")),
        refused,
        # Staff pages send visitors to sign in, showing nothing.
        client.get(QUEUE, follow=True),
        client.get(reverse("comments:detail", args=[1]), follow=True),
    ]
    assert "Visible Name" in public[2].content.decode()
    for response in public:
        body = response.content.decode()
        for secret in secrets:
            assert secret not in body, (response.request["PATH_INFO"], secret)


# The staff's queue


def test_it_lists_with_counts_per_status_and_filters(staff_client):
    union = UnionFactory.create(name="Dansk Metal")
    PublicCommentFactory.create(country="DK", union=union, comment="Danish view.")
    PublicCommentFactory.create(country="DK", status=Status.SPAM, comment="Buy now.")
    PublicCommentFactory.create(country="PL", comment="Polish view.")
    everything = staff_client.get(QUEUE).content.decode()
    assert "Danish view." in everything
    assert "Polish view." in everything
    assert "Buy now." in everything
    danish = staff_client.get(QUEUE, {"country": "DK"}).content.decode()
    assert "Polish view." not in danish
    assert 'data-status="new">New <small>(1)</small>' in danish
    assert 'data-status="spam">Spam <small>(1)</small>' in danish
    new_in_union = staff_client.get(
        QUEUE, {"country": "DK", "status": "new", "union": union.pk}
    ).content.decode()
    assert "Danish view." in new_in_union
    assert "Buy now." not in new_in_union


def _queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(QUEUE).status_code == 200
    return len(queries)


def test_it_lists_in_a_constant_number_of_queries(staff_client):
    def some(count: int) -> None:
        for _ in range(count):
            PublicCommentFactory.create(
                union=UnionFactory.create(),
                contact=ContactFactory.create(),
                moderated_by=UserFactory.create(),
            )

    some(2)
    few = _queries(staff_client)
    some(20)
    assert _queries(staff_client) == few


def test_it_shows_the_consent_record_and_no_publish_button_without_consent(staff_client):
    comment = PublicCommentFactory.create(consent_to_publish=False)
    body = staff_client.get(comment.get_absolute_url()).content.decode()
    assert CONSENT_QUESTION in body
    assert "cannot be published" in body
    assert reverse("comments:moderate", args=[comment.pk, "publish"]) not in body


def test_it_refuses_to_publish_without_consent_even_when_asked_directly(staff_client):
    comment = PublicCommentFactory.create(consent_to_publish=False)
    response = staff_client.post(
        reverse("comments:moderate", args=[comment.pk, "publish"]), follow=True
    )
    assert "did not agree to it being posted" in response.content.decode()
    comment.refresh_from_db()
    assert comment.status == Status.NEW


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("publish", Status.PUBLISHED),
        ("review", Status.REVIEWED),
        ("hide", Status.HIDDEN),
        ("spam", Status.SPAM),
    ],
)
def test_it_moderates_with_a_note(manager_client, manager, action, status):
    comment = PublicCommentFactory.create()
    response = manager_client.post(
        reverse("comments:moderate", args=[comment.pk, action]), {"note": "Checked."}
    )
    assert response["Location"] == comment.get_absolute_url()
    comment.refresh_from_db()
    assert (comment.status, comment.moderation_note, comment.moderated_by) == (
        status,
        "Checked.",
        manager,
    )


def test_it_lets_only_moderators_act(client, organizer_client):
    comment = PublicCommentFactory.create()
    url = reverse("comments:moderate", args=[comment.pk, "publish"])
    assert organizer_client.post(url).status_code == 403
    assert client.post(url)["Location"].startswith(reverse("login"))
    comment.refresh_from_db()
    assert comment.status == Status.NEW


def test_it_answers_404_for_an_unknown_action(staff_client):
    comment = PublicCommentFactory.create()
    response = staff_client.post(reverse("comments:moderate", args=[comment.pk, "delete"]))
    assert response.status_code == 404


def test_it_links_a_contact_found_by_search_or_number_and_unlinks_it(staff_client):
    contact = ContactFactory.create(first_name="Søren", last_name="Kierkegaard")
    comment = PublicCommentFactory.create(email="")
    found = staff_client.get(comment.get_absolute_url(), {"find": "kierke"}).content.decode()
    assert "Link to Søren Kierkegaard" in found
    link = reverse("comments:link_contact", args=[comment.pk])
    staff_client.post(link, {"contact": contact.pk})
    comment.refresh_from_db()
    assert comment.contact == contact
    staff_client.post(link, {"contact": ""})
    comment.refresh_from_db()
    assert comment.contact is None
    missing = staff_client.post(link, {"contact": 999_999}, follow=True)
    assert "There is no contact number 999999." in missing.content.decode()


def test_it_suggests_the_contact_with_the_same_address(staff_client):
    contact = ContactFactory.create(email="same@example.org")
    comment = PublicCommentFactory.create(email="Same@Example.org")
    body = staff_client.get(comment.get_absolute_url()).content.decode()
    assert f"{contact.full_name} has this e-mail address." in body


def test_it_creates_a_contact_from_the_comment(staff_client, outreach_staffer):
    comment = PublicCommentFactory.create(name="Łucja Nowak", email="lucja@example.pl")
    response = staff_client.post(reverse("comments:create_contact", args=[comment.pk]), follow=True)
    assert "Contact Łucja Nowak created and linked." in response.content.decode()
    comment.refresh_from_db()
    assert comment.contact is not None
    assert comment.contact.created_by == outreach_staffer


def test_it_sets_the_union_the_comment_speaks_for(staff_client):
    union = UnionFactory.create()
    comment = PublicCommentFactory.create()
    staff_client.post(reverse("comments:set_union", args=[comment.pk]), {"union": union.pk})
    comment.refresh_from_db()
    assert comment.union == union


def test_it_shows_comments_read_only_in_the_admin(admin_client_):
    comment = PublicCommentFactory.create(name="Back Office", comment="Seen in the admin.")
    listing = admin_client_.get("/admin/outreach/publiccomment/")
    assert "Back Office" in listing.content.decode()
    page = admin_client_.get(f"/admin/outreach/publiccomment/{comment.pk}/change/")
    assert page.status_code == 200
    assert "Seen in the admin." in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert admin_client_.get("/admin/outreach/publiccomment/add/").status_code == 403


def test_it_reads_the_published_page_in_a_constant_number_of_queries(client):
    PublicCommentFactory.create_batch(2, status=Status.PUBLISHED)
    with CaptureQueriesContext(connection) as few:
        client.get(PUBLISHED)
    PublicCommentFactory.create_batch(30, status=Status.PUBLISHED, union=UnionFactory.create())
    with CaptureQueriesContext(connection) as many:
        client.get(PUBLISHED)
    assert len(many) == len(few)
