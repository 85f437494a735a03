"""Failed sign-ins and the lockout that follows them (django-axes, on the database).

Two counts, each over the cool-off period: failures for one account from one address, and
failures from one address whatever the account. Never failures for one account from anywhere:
anyone could then lock any colleague out on purpose. A wrong authenticator code counts like a
wrong password, so the second factor cannot be guessed either.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from crm.ratelimit import client_ip, client_key


def lockout_address(request: HttpRequest) -> str | None:
    """The address failures are counted against: the client the rate limits count (the
    connection's address, or X-Forwarded-For only through TRUSTED_PROXY_COUNT proxies; an IPv6
    client as its /64, else each guess could come from a new address), as one address, which is
    what axes stores."""
    try:
        network = ipaddress.ip_network(client_key(client_ip(request)), strict=False)
    except ValueError:
        return None  # no usable address (a test request): counted together, never an error
    return str(network.network_address)


def _total(attempts: QuerySet[AccessAttempt]) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


class LoginFailureHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit per account-and-address and a higher one per address.

    Axes compares one number with one limit (LOGIN_FAILURE_LIMIT): an address past its own,
    higher limit (LOGIN_ADDRESS_FAILURE_LIMIT: one address trying many accounts) reports the
    account limit as reached, whatever account it tries.
    """

    def get_failures(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        recent = AccessAttempt.objects.filter(
            ip_address=request.axes_ip_address,
            attempt_time__gte=get_cool_off_threshold(request),
        )
        username = (credentials or {}).get("username")
        account = _total(recent.filter(username=username)) if username else 0
        if _total(recent) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            return max(account, settings.LOGIN_FAILURE_LIMIT)
        return account

    def reset_user_attempts(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        # A successful sign-in forgives that account's failures from that address only: anyone
        # with an account of their own must not wipe out what an address did to other accounts.
        username = (credentials or {}).get("username")
        deleted, _by_model = AccessAttempt.objects.filter(
            username=username, ip_address=request.axes_ip_address
        ).delete()
        return deleted


def sign_in_allowed(request: HttpRequest, *, username: str) -> bool:
    """Whether this account may try to sign in from this address now (not locked out)."""
    return AxesProxyHandler.is_allowed(request, {"username": username})


def sign_in_failed(request: HttpRequest, *, username: str) -> None:
    """Count a wrong authenticator code as a failed sign-in (a wrong password counts by itself,
    through Django's authenticate()). Past the limit the lockout page replaces the response."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The page shown instead of the sign-in form while locked out (429, never an error page)."""
    minutes = settings.LOGIN_COOLOFF_MINUTES
    response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
