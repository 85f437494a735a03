"""Response headers: the Content-Security-Policy, framing, and pages kept out of caches.

Every URL of the project is also walked for these headers in tests/test_permissions.py, and
tests/browser/test_content_security_policy.py shows that the pages run under the policy.
"""

from __future__ import annotations

from pathlib import Path

import django
import import_export
import pytest
import simple_history
from django.http import HttpResponse
from django.template import engines
from django.test import RequestFactory
from django.urls import reverse

from crm.security import (
    ADMIN_INLINE_SCRIPTS,
    ADMIN_INLINE_STYLES,
    HEADER,
    SecurityHeadersMiddleware,
    content_security_policy,
)
from outreach.unsubscribe import unsubscribe_token
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def _directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for directive in header.split(";"):
        name, *sources = directive.split()
        directives[name] = sources
    return directives


def test_it_sends_a_policy_without_inline_code_on_staff_pages(staff_client):
    response = staff_client.get(reverse("crm:contact_list"))
    policy = _directives(response[HEADER])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert "unsafe-inline" not in response[HEADER]
    assert "unsafe-eval" not in response[HEADER]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_it_keeps_a_signed_in_users_pages_out_of_every_cache(staff_client):
    contact = ContactFactory.create()
    response = staff_client.get(reverse("crm:contact_detail", args=[contact.pk]))
    assert response.status_code == 200
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "private", "no-cache", "max-age=0"} <= directives
    assert "Expires" in response


@pytest.mark.parametrize(
    "path", ["/voice/", "/voice/thanks/", "/voice/comments/", "/accounts/login/", "unsubscribe"]
)
def test_it_keeps_public_pages_out_of_caches_too(client, path):
    if path == "unsubscribe":  # the page names the address it takes off the list
        path = reverse("unsubscribe", args=[unsubscribe_token(ContactFactory.create())])
    response = client.get(path)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "unsafe-inline" not in response[HEADER]


def test_it_leaves_static_files_cacheable(client, settings):
    # Served by WhiteNoise before the middleware: no personal data, and worth caching.
    settings.WHITENOISE_USE_FINDERS = True
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def test_it_adds_a_nonce_only_to_a_response_whose_template_prints_it():
    template = engines["django"].from_string('<script nonce="{{ request.csp_nonce }}"></script>')

    def with_inline_script(request):
        return HttpResponse(template.render({}, request))

    request = RequestFactory().get("/")
    response = SecurityHeadersMiddleware(with_inline_script)(request)
    nonce = response.content.decode().split('"')[1]
    assert len(nonce) >= 22
    assert f"'nonce-{nonce}'" in _directives(response[HEADER])["script-src"]

    again = SecurityHeadersMiddleware(with_inline_script)(RequestFactory().get("/"))
    assert again.content.decode().split('"')[1] != nonce  # a new one for every response

    plain = SecurityHeadersMiddleware(lambda request: HttpResponse("<p>"))
    assert "nonce-" not in plain(RequestFactory().get("/"))[HEADER]


def test_it_allows_in_the_admin_only_the_inline_snippets_of_its_plug_ins(admin_client_):
    response = admin_client_.get("/admin/crm/contact/")
    assert response.status_code == 200
    assert response[HEADER] == content_security_policy(admin=True)
    policy = _directives(response[HEADER])
    assert "'unsafe-hashes'" in policy["script-src"]
    assert len(policy["script-src"]) == 2 + len(ADMIN_INLINE_SCRIPTS)
    assert len(policy["style-src"]) == 2 + len(ADMIN_INLINE_STYLES)
    assert "unsafe-inline" not in response[HEADER]
    assert "no-store" in response["Cache-Control"]


def _templates(package) -> str:
    root = Path(package.__file__).parent / "templates"
    return "".join(path.read_text() for path in root.rglob("*.html"))


def test_it_allows_snippets_the_installed_admin_plug_ins_really_have():
    # After an upgrade of django-import-export or django-simple-history, a snippet they no
    # longer have is dropped from the policy (and a new one shows in the browser test).
    sources = _templates(import_export) + _templates(simple_history)
    for script in ADMIN_INLINE_SCRIPTS:
        assert f'="{script}"' in sources
    for style in ADMIN_INLINE_STYLES:
        assert f'style="{style}"' in sources


def test_it_finds_no_inline_code_in_the_projects_templates():
    root = Path(__file__).resolve().parents[2] / "templates"
    for path in root.rglob("*.html"):
        text = path.read_text()
        assert "<style" not in text, path
        assert " style=" not in text, path
        assert "<script>" not in text, path
        assert "<script " not in text.replace("<script src=", ""), path
        assert " hx-on" not in text, path
        assert "javascript:" not in text, path


def test_it_keeps_djangos_own_admin_free_of_inline_handlers():
    root = Path(django.__file__).parent / "contrib" / "admin" / "templates"
    sources = "".join(path.read_text() for path in root.rglob("*.html"))
    assert " onclick=" not in sources
    assert " onchange=" not in sources
    assert " style=" not in sources
