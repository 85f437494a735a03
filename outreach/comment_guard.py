"""What turns a post of the public comment form away before it is read as a comment: a body
too large to read, too many posts from one address, a form sent too soon after it was shown (a
program) or with its signed time missing, forged or too old (a replay, or a tab left open).

Each refusal is said politely above the form, which comes back with the person's text in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from crm.ratelimit import Limit, RateLimitUnavailableError, client_ip, rate_limit_hit
from outreach.comment_forms import FormToken

RATE_SCOPE = "public-comment"


@dataclass(frozen=True)
class Refusal:
    message: str
    status: int
    retry_after: int | None = None


def body_too_large(request: HttpRequest) -> bool:
    """Told by the headers, so that nothing reads the body first."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return length > settings.PUBLIC_COMMENT_MAX_BYTES


def _throttled(request: HttpRequest) -> Refusal | None:
    limits = (
        Limit(settings.PUBLIC_COMMENT_RATE_PER_MINUTE, 60),
        Limit(settings.PUBLIC_COMMENT_RATE_PER_HOUR, 3600),
    )
    try:
        exceeded = rate_limit_hit(scope=RATE_SCOPE, client=client_ip(request), limits=limits)
    except RateLimitUnavailableError:
        # Fail closed: without its counter the form would take any flood, straight into the
        # database and the moderators' queue. The person keeps their text and tries again.
        return Refusal(
            _(
                "We cannot take comments at this moment. Your text is still here: please try "
                "again in a few minutes."
            ),
            status=503,
            retry_after=120,
        )
    if exceeded is None:
        return None
    minutes = math.ceil(exceeded.retry_after / 60)
    return Refusal(
        ngettext(
            "Many comments were sent from your connection in a short time. Your text is still "
            "here: please wait %(count)d minute and send it again.",
            "Many comments were sent from your connection in a short time. Your text is still "
            "here: please wait %(count)d minutes and send it again.",
            minutes,
        )
        % {"count": minutes},
        status=429,
        retry_after=exceeded.retry_after,
    )


def _untimely(token: FormToken | None) -> Refusal | None:
    if token is None or token.age() > settings.PUBLIC_COMMENT_MAX_AGE_SECONDS:
        return Refusal(
            _(
                "This page was open for a long time. Your text is still here: please check it "
                "and send it again."
            ),
            status=200,
        )
    if token.age() < settings.PUBLIC_COMMENT_MIN_SECONDS:
        return Refusal(
            _("That was quick! Please check your comment and send it again."), status=200
        )
    return None


def post_refusal(request: HttpRequest, token: FormToken | None) -> Refusal | None:
    """Why this post is turned away, or None. Every post counts against the address's limits,
    the refused ones too: a client that keeps trying stays refused."""
    return _throttled(request) or _untimely(token)
