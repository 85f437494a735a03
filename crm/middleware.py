"""Per-request activation of the staff member's time zone, and the two-factor requirement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone

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
