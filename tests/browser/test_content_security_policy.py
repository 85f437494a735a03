"""In Chromium, the main pages and the admin run under the Content-Security-Policy: the browser
reports no blocked script, style or handler while they are opened and used."""

from __future__ import annotations

import pytest

from crm import services as crm_services
from crm.importing import services as import_services
from outreach.models import PublicComment
from tests.browser.conftest import live, sign_in
from tests.factories import ConsultationFactory, MembershipFactory, PublicCommentFactory

pytestmark = [pytest.mark.browser, live]

CSV = (
    b"First name,Last name,E-mail,Union\n"
    b"Anna,Kowalska,anna@example.pl,Solidarno\xc5\x9b\xc4\x87\n"
    b"Jan,Nowak,not-an-email,Solidarno\xc5\x9b\xc4\x87\n"
)


def _violations(page) -> list[str]:
    found: list[str] = []
    page.on(
        "console",
        lambda message: (
            found.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return found


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")


def test_it_runs_the_staff_pages_without_a_violation(page, live_server, administrator):
    membership = MembershipFactory.create(contact__first_name="Anna", contact__last_name="Kowal")
    consultation = ConsultationFactory.create()
    consultation.unions.add(membership.union)
    job = import_services.import_job_create(upload=[CSV], file_name="list.csv", user=administrator)
    violations = _violations(page)
    base = live_server.url

    sign_in(page, live_server, administrator.username, next_path="/contacts/")
    page.get_by_role("searchbox").first.fill("kowal")  # htmx swaps the results in
    page.locator("#results").get_by_text("Kowal").first.wait_for()
    _open(page, f"{base}{membership.contact.get_absolute_url()}")

    _open(page, f"{base}/consultations/new/")
    page.get_by_role("searchbox", name="Unions").fill(membership.union.name[:4])
    page.get_by_role("button", name=membership.union.name).first.click()
    page.get_by_role("button", name="Add someone new").click()
    _open(page, f"{base}{consultation.get_absolute_url()}")

    _open(page, f"{base}/imports/")
    _open(page, f"{base}/imports/new/")
    _open(page, f"{base}/imports/{job.pk}/")
    page.get_by_role("button", name="Preview the import").click()
    page.get_by_text("Preview: what the import will do").wait_for()

    _open(page, f"{base}/reports/")
    _open(page, f"{base}/comments/")
    _open(page, f"{base}/followups/")
    _open(page, f"{base}/accounts/settings/")
    assert violations == []

    # The listener hears a violation when there is one: the test can fail.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">')")
    page.wait_for_timeout(200)
    assert violations, "no violation reported for an inline style"


def test_it_runs_the_public_pages_without_a_violation(page, live_server):
    PublicCommentFactory.create(status=PublicComment.Status.PUBLISHED)
    violations = _violations(page)
    for path in ("/voice/", "/voice/comments/", "/voice/thanks/", "/accounts/login/"):
        _open(page, f"{live_server.url}{path}")
    assert violations == []


def test_it_runs_the_admin_and_its_plug_ins_without_a_violation(page, live_server, administrator):
    contact = MembershipFactory.create().contact
    crm_services.contact_email_opt_out(contact=contact, source="unsubscribe", question="Stop?")
    violations = _violations(page)
    base = live_server.url
    sign_in(page, live_server, administrator.username, next_path="/contacts/")
    for path in (
        "/admin/",
        "/admin/crm/contact/",
        f"/admin/crm/contact/{contact.pk}/change/",
        f"/admin/crm/contact/{contact.pk}/history/",
        "/admin/crm/contact/add/",
        "/admin/crm/contact/import/",
        "/admin/outreach/consultation/add/",
        "/admin/auth/user/",
    ):
        _open(page, f"{base}{path}")
    _open(page, f"{base}/admin/crm/contact/export/")
    # django-import-export's inline handler, allowed by its hash.
    page.locator("input.select-toggle").first.dispatch_event("change")
    assert violations == []
