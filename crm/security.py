"""Response headers that keep personal data out of caches and injected code out of pages.

Every page of the CRM is drawn by the server from templates that load their scripts and styles
as files, so the Content-Security-Policy allows no inline code at all. A template that really
needs an inline script writes `<script nonce="{{ request.csp_nonce }}">`: the nonce is made only
for the responses that use it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

HEADER = "Content-Security-Policy"

POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    # Pico draws its check marks and select arrows as data: SVG images in the style sheet.
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}


def _sha256(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


# Django's admin itself runs under the strict policy; the apps plugged into it do not:
# django-import-export's export page has an onchange handler and two style attributes, and
# django-simple-history's history page one style attribute. Their templates are theirs, so
# rather than copy them, the admin allows exactly these snippets by hash ('unsafe-hashes' is
# what lets a hash match an attribute) and no other inline code.
ADMIN_INLINE_SCRIPTS = ("onSelectToggleChange(event)",)
ADMIN_INLINE_STYLES = ("padding: 0;", "font-weight: bold;", "border-top: 0")
ADMIN_POLICY = {
    **POLICY,
    "script-src": ["'self'", "'unsafe-hashes'", *map(_sha256, ADMIN_INLINE_SCRIPTS)],
    "style-src": ["'self'", "'unsafe-hashes'", *map(_sha256, ADMIN_INLINE_STYLES)],
}


class Nonce:
    """A per-response nonce, drawn the first time a template prints it."""

    def __init__(self) -> None:
        self.value: str | None = None

    def __str__(self) -> str:
        if self.value is None:
            self.value = secrets.token_urlsafe(18)
        return self.value


def content_security_policy(*, admin: bool = False, nonce: str | None = None) -> str:
    policy = ADMIN_POLICY if admin else POLICY
    if nonce:
        policy = {**policy, "script-src": [*policy["script-src"], f"'nonce-{nonce}'"]}
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in policy.items())


def _is_admin(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and "admin" in match.namespaces


class SecurityHeadersMiddleware:
    """The policy above on every response, and `Cache-Control: no-store` on every page.

    No-store on everything the application draws, not only on what a signed-in user sees: the
    public pages show personal data too (a comment form coming back with the writer's name and
    address, published comments whose writer may withdraw them, an unsubscribe page naming an
    address), and none of them is worth the risk of a shared cache or a back button on a
    borrowed computer showing them to the next person. Static files are answered by WhiteNoise
    before this middleware and stay cacheable.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = Nonce()
        request.csp_nonce = nonce  # type: ignore[attr-defined]
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = content_security_policy(admin=_is_admin(request), nonce=nonce.value)
        add_never_cache_headers(response)
        return response
