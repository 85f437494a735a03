"""Every staff URL, walked from the URL conf: visitors and users without a role see nothing.

issue 8 extends this into the full permission matrix; the walk makes sure no view is forgotten.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import ContactFactory, MembershipFactory, SiteFactory

pytestmark = pytest.mark.django_db

# URLs anyone may open, and why.
PUBLIC = {
    "login": "the sign-in page",
    "logout": "signing out is harmless",
    "healthz": "load balancers probe it; it shows no personal data",
}


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> list[tuple[str, str]]:
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # Django's admin has its own staff login, tested by Django
            child_namespace = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += _walk(entry, prefix + str(entry.pattern), child_namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            found.append((f"{namespace}{entry.name}", prefix + str(entry.pattern)))
    return found


def _urls() -> list[tuple[str, str]]:
    membership = MembershipFactory.create(contact=ContactFactory.create())
    site = SiteFactory.create()
    pks = {
        "contact": membership.contact_id,
        "union": membership.union_id,
        "membership": membership.pk,
        "employer": site.employer_id,
        "site": site.pk,
    }
    employer_pk = site.employer_id
    urls = []
    for name, pattern in _walk(get_resolver()):
        if name in PUBLIC:
            continue
        path = "/" + pattern
        if "<int:pk>" in path:
            # contacts/<pk>/memberships/new/ takes the contact
            model = (
                "contact" if name == "crm:membership_create" else next(k for k in pks if k in name)
            )
            path = path.replace("<int:pk>", str(pks[model]))
        path = path.replace("<int:employer_pk>", str(employer_pk))
        assert "<" not in path, f"{name}: teach this test the argument of {pattern}"
        urls.append((name, path))
    return urls


def test_it_finds_the_staff_urls():
    names = {name for name, _path in _urls()}
    assert {
        "home",
        "crm:contact_list",
        "crm:contact_detail",
        "crm:union_update",
        "crm:site_create",
    } <= names


def test_it_sends_anonymous_visitors_to_login_on_every_staff_url(client):
    for name, path in _urls():
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 302, (name, path)
            assert response["Location"].startswith("/accounts/login/?next="), (name, path)


def test_it_shows_the_no_access_page_to_a_user_without_role_on_every_staff_url(outsider_client):
    for name, path in _urls():
        response = outsider_client.get(path)
        assert response.status_code in {403, 405}, (name, path)
        if response.status_code == 403:
            assert "no role yet" in response.content.decode(), (name, path)
