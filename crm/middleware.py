"""Per-request activation of the staff member's time zone."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from crm.timezones import is_valid_timezone

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
