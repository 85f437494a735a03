"""Per-request activation of the staff member's time zone; limits on how long a session lasts;
the two-factor requirement."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_htmx.http import HttpResponseClientRedirect

from crm.timezones import is_valid_timezone
from crm.twofactor import two_factor_status

SESSION_KEY = "staff_timezone"
BROWSER_COOKIE = "tz"  # set by static/js/timezone.js from the browser's own setting


class StaffTimezoneMiddleware:
    """Show and read dates in the zone the staff member chose, else the browser's, else UTC.

    The chosen zone is copied into the session at sign-in and when changed, so that no request
    pays a query for it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = ""
        if hasattr(request, "session"):
            name = request.session.get(SESSION_KEY, "")
        name = name or request.COOKIES.get(BROWSER_COOKIE, "")
        if name and is_valid_timezone(name):
            timezone.activate(ZoneInfo(name))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


STARTED_KEY = "session_started"
SEEN_KEY = "session_seen"
# Activity is written to the session at most this often, not on every request: a write per
# request is a database update per click. The idle limit is therefore kept to within a minute.
SEEN_RESOLUTION_SECONDS = 60


class SessionLimitMiddleware:
    """Sign out a staff member idle for SESSION_IDLE_MINUTES, or signed in for SESSION_MAX_HOURS.

    A session left open on a shared or lost computer shows trade-union membership to whoever
    finds it; both limits are counted by the server, whatever the browser does with its cookie.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            session = request.session
            # A session signed in before these limits existed counts from its next request.
            started = session.setdefault(STARTED_KEY, now)
            seen = session.get(SEEN_KEY, now)
            if now - started > settings.SESSION_MAX_HOURS * 3600:
                return _signed_out(
                    request,
                    _("You were signed out after %(hours)d hours. Please sign in again.")
                    % {"hours": settings.SESSION_MAX_HOURS},
                )
            if now - seen > settings.SESSION_IDLE_MINUTES * 60:
                return _signed_out(
                    request,
                    _(
                        "You were signed out after %(minutes)d minutes without activity. "
                        "Please sign in again."
                    )
                    % {"minutes": settings.SESSION_IDLE_MINUTES},
                )
            if SEEN_KEY not in session or now - seen >= SEEN_RESOLUTION_SECONDS:
                session[SEEN_KEY] = now
        return self.get_response(request)


def session_limits_start(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
    """Both limits count from the moment of signing in, by whatever way (the sign-in page, the
    admin's, a test's force_login): user_logged_in is the one place all of them pass."""
    request.session[STARTED_KEY] = request.session[SEEN_KEY] = time.time()


def _signed_out(request: HttpRequest, message: str) -> HttpResponse:
    logout(request)
    messages.info(request, message)
    if request.headers.get("HX-Request") == "true":
        # A fragment request would swap the sign-in page into the middle of the page.
        return HttpResponseClientRedirect(resolve_url(settings.LOGIN_URL))
    if request.method == "GET":
        return redirect_to_login(request.get_full_path())
    # What was posted is gone with the session; coming back to a POST-only address would fail.
    return redirect(settings.LOGIN_URL)


# What an administrator without an authenticator may open: setting one up (and confirming the
# password for it), leaving.
SETTING_UP = frozenset({"two_factor_setup", "confirm_identity", "logout", "healthz"})


class TwoFactorMiddleware:
    """Administrators must sign in with an authenticator; whoever has one must have given its
    code in this session.

    An administrator without a confirmed authenticator goes to set one up before any other page
    (the Django admin too). A session without the code of a user who has an authenticator (one
    was added after this session signed in) is signed out, to sign in again with the code.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        user: Any = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        status = two_factor_status(user=user)
        if status.has_device:
            logout(request)
            return _redirect(request, redirect_to_login(request.get_full_path()).url)
        match = request.resolver_match
        if status.required and (match is None or match.view_name not in SETTING_UP):
            query = urlencode({"next": request.get_full_path()}, safe="/")
            return _redirect(request, f"{reverse('two_factor_setup')}?{query}")
        return None


def _redirect(request: HttpRequest, url: str) -> HttpResponseBase:
    if request.headers.get("HX-Request"):
        # htmx would swap the page it is sent to into a fragment: have it load the whole page.
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)
