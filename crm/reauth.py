"""Asking "is it still you?" before a page that hands out or erases personal data in bulk.

A session remembers when its user last gave the password (and the authenticator code, when they
have one): at sign-in and on the confirmation page. Past REAUTH_MINUTES, a view decorated with
`recent_auth_required` sends the user to that page first, then back to what they asked for.

Usage, below the permission check so that a user without the permission gets 403, not a
password prompt::

    @role_required("crm.export_contacts")
    @recent_auth_required
    def contact_export(request, file_format): ...

A POST (an erasure) that arrives too late is sent to the confirmation page too, then back to
the page as a GET: the user sees the form again and sends it once more. Make the view's GET
show a confirmation form rather than act.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

SESSION_KEY = "auth_confirmed_at"

View = Callable[..., HttpResponseBase]


def session_mark_confirmed(session: SessionBase) -> None:
    """The user just gave their password (and code, if they have an authenticator)."""
    session[SESSION_KEY] = int(time.time())


def auth_is_recent(request: HttpRequest) -> bool:
    confirmed_at = request.session.get(SESSION_KEY)
    if not isinstance(confirmed_at, int):
        return False
    age = time.time() - confirmed_at
    return 0 <= age <= settings.REAUTH_MINUTES * 60


def safe_next(request: HttpRequest, candidate: str | None, default: str) -> str:
    """`candidate` when it is a path or URL of this site, else `default`."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def recent_auth_required(view: View) -> View:
    """Send a user who has not confirmed who they are for REAUTH_MINUTES to do so first."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not auth_is_recent(request):
            query = urlencode({"next": request.get_full_path()}, safe="/")
            return HttpResponseRedirect(f"{reverse('confirm_identity')}?{query}")
        return view(request, *args, **kwargs)

    return wrapper
