"""The server error page, and the one error a person can do something about: the database gone
for a moment (restarted, failed over, a connection cut). That is a 503 saying nothing was saved
by halves, not a 500 saying something is broken."""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

# A page a person sends again after this many seconds; a restart takes about that long.
RETRY_AFTER_SECONDS = 5


def database_unavailable(error: BaseException | None) -> bool:
    # InterfaceError: a connection the server closed under us; OperationalError: refused, cut, or
    # a transaction PostgreSQL rolled back (deadlock, serialization) that is worth sending again.
    return isinstance(error, OperationalError | InterfaceError)


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside the `except` that caught the error, so the error is still at hand.
    # Neither page is drawn with the request: its context (the signed-in user, the navigation)
    # would ask the database again.
    if database_unavailable(sys.exc_info()[1]):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return HttpResponseServerError(loader.get_template("500.html").render())
