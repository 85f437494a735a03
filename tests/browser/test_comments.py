"""Share your voice: a visitor comments without an account, a staffer publishes what the person
agreed to, and the public reads it; what was not agreed to cannot be published."""

from __future__ import annotations

import uuid

import pytest

from outreach.models import PublicComment
from tests.browser.conftest import live, sign_in
from tests.factories import PublicCommentFactory

pytestmark = [pytest.mark.browser, live]
Status = PublicComment.Status


@pytest.fixture(autouse=True)
def public_form(settings):
    # Posts are counted in a cache of the test's own, which the live server's thread shares.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"browser-comments-{uuid.uuid4()}",
        }
    }
    # No wait by default: the journeys below must not race the clock on a slow machine.
    settings.PUBLIC_COMMENT_MIN_SECONDS = 0


@pytest.fixture
def visitor(browser):
    """Someone without an account, in a browser of their own."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _write_comment(page, text: str) -> None:
    page.get_by_label("Your comment", exact=True).fill(text)
    page.get_by_label("Your name", exact=True).fill("Ελένη Παππά")
    page.get_by_label("Your union", exact=True).fill("ΠΟΕΜ <metal>")
    page.get_by_label("Country", exact=True).select_option("GR")
    page.get_by_role("radio", name="Yes", exact=True).check()


def test_it_takes_a_comment_from_an_anonymous_visitor_with_consent(visitor, live_server, settings):
    # Every post counts as too quick until the window is closed again below; the live server's
    # thread reads the same settings object.
    settings.PUBLIC_COMMENT_MIN_SECONDS = 3600
    visitor.goto(f"{live_server.url}/voice/")
    assert visitor.locator("[data-nav]").count() == 0
    text = "Cross-training works when certificates are recognised both ways."
    _write_comment(visitor, text)
    # The trap field is out of sight (and out of the tab order), for programs only.
    trap = visitor.locator("input[name=website]").bounding_box()
    assert trap is not None
    assert trap["x"] + trap["width"] <= 0
    visitor.get_by_role("button", name="Send my comment").click()

    # Faster than a person could: the form comes back with everything still in it.
    visitor.get_by_text("That was quick!").wait_for()
    assert visitor.get_by_label("Your comment", exact=True).input_value() == text
    assert visitor.get_by_label("Your name", exact=True).input_value() == "Ελένη Παππά"
    assert visitor.get_by_role("radio", name="Yes", exact=True).is_checked()
    assert not PublicComment.objects.exists()

    settings.PUBLIC_COMMENT_MIN_SECONDS = 0
    visitor.get_by_role("button", name="Send my comment").click()
    visitor.get_by_role("heading", name="Thank you for your comment").wait_for()
    comment = PublicComment.objects.get()
    assert comment.comment == text
    assert (comment.name, comment.union_name, comment.country) == (
        "Ελένη Παππά",
        "ΠΟΕΜ <metal>",
        "GR",
    )
    assert comment.consent_to_publish is True
    assert comment.consent_question == "May we post your comment for others to see and review?"
    assert comment.status == Status.NEW


def test_it_lets_a_staffer_publish_it_for_the_public_to_read(
    visitor, page, live_server, outreach_staffer
):
    visitor.goto(f"{live_server.url}/voice/")
    _write_comment(visitor, "Keep the work here, <b>train</b> together.")
    visitor.get_by_label("Your e-mail address").fill("eleni@example.gr")
    visitor.get_by_role("button", name="Send my comment").click()
    visitor.get_by_role("heading", name="Thank you for your comment").wait_for()
    comment = PublicComment.objects.get()

    sign_in(page, live_server, outreach_staffer.username, next_path="/comments/")
    assert page.locator('[data-nav="comments"][aria-current="page"]').is_visible()
    page.locator(f'tr[data-comment="{comment.pk}"] a').first.click()
    page.get_by_label("Moderation note").fill("Constructive; fine to show.")
    page.get_by_role("button", name="Publish").click()
    page.get_by_text("Published on the comments page.").wait_for()
    assert page.get_by_test_id("status").inner_text() == "Published"
    comment.refresh_from_db()
    assert comment.status == Status.PUBLISHED
    assert comment.moderated_by == outreach_staffer

    visitor.goto(f"{live_server.url}/voice/comments/")
    quote = visitor.locator(".public-comment blockquote")
    assert quote.inner_text() == "Keep the work here, <b>train</b> together."
    footer = visitor.locator(".public-comment footer").inner_text()
    assert "Ελένη Παππά" in footer
    assert "ΠΟΕΜ <metal>" in footer
    assert "Greece" in footer
    content = visitor.content()
    assert "eleni@example.gr" not in content
    assert "Constructive" not in content


def test_it_cannot_publish_a_comment_given_without_consent(page, live_server, manager):
    comment = PublicCommentFactory.create(
        consent_to_publish=False, comment="Only for the staff to read."
    )
    sign_in(page, live_server, manager.username, next_path=f"/comments/{comment.pk}/")
    assert page.get_by_test_id("consent-answer").inner_text() == "No"
    assert page.get_by_test_id("no-consent").is_visible()
    assert page.get_by_role("button", name="Publish").count() == 0

    # Asked for all the same (a stale page, a crafted request): refused, and said so.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{live_server.url}/comments/{comment.pk}/publish/",
        form={"csrfmiddlewaretoken": token},
        headers={"Referer": page.url},
        max_redirects=0,
    )
    assert response.status == 302
    page.reload()
    page.get_by_text("did not agree to it being posted").wait_for()
    comment.refresh_from_db()
    assert comment.status == Status.NEW

    page.goto(f"{live_server.url}/voice/comments/")
    assert "Only for the staff to read." not in page.content()
