"""Text a person (or a program) may type into any box: for the property-based tests of the forms.

Shared by tests/crm/test_forms_text.py and tests/outreach/test_forms_text.py. Lone surrogates are
left out: they cannot travel in a UTF-8 request, so no browser can send them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from django.db import transaction
from django.http import HttpResponse
from django.template.defaultfilters import linebreaksbr
from django.utils.html import escape
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from crm.middleware import SESSION_KEY

# Markup that must never come back out of a page as markup.
MARKUP = ("<script>alert(1)</script>", '"><img src=x onerror=1>')

PIECES = [
    *MARKUP,
    # Spreadsheet formula prefixes (they matter once the value is exported).
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    '=HYPERLINK("http://x")',
    # Direction marks and invisible joiners: names in several scripts carry them.
    "\u200f",
    "\u202e",
    "\u200d",
    "\u200b",
    "\ufeff",
    # Control characters PostgreSQL stores; NUL, which it cannot.
    "\x00",
    "\x01",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\u2028",
    "\n",
    "\r\n",
    # Things a template engine, a printf or an HTML parser might read as their own.
    "{{ first_name }}",
    "{% now 'Y' %}",
    "%(name)s",
    "%s",
    "&amp;",
    "'",
    '"',
    "\\",
    " ",
    # Names in other scripts.
    "Żółć",
    "Ελένη",
    "Иван",
    "محمد",
    "日本",
    "👷🏽‍♀️",
]

_CHARACTERS = st.characters(exclude_categories=["Cs"])

TEXT = st.one_of(
    st.text(_CHARACTERS, max_size=60),
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=10).map("".join),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(_CHARACTERS, max_size=5)), max_size=8).map(
        "".join
    ),
    # Longer than most boxes take.
    st.builds(
        lambda piece, times: piece * times,
        st.sampled_from(["x", "<b>", "\u202e", "é"]),
        st.integers(min_value=90, max_value=6000),
    ),
)

# What date and time boxes send, out to both ends of the calendar, and anything else.
WHEN = st.one_of(
    TEXT,
    st.dates().map(date.isoformat),
    st.datetimes().map(lambda moment: moment.isoformat(timespec="minutes")),
    st.times().map(lambda moment: moment.isoformat(timespec="minutes")),
    st.sampled_from(["0001-01-01", "9999-12-31", "0001-01-01T00:00", "9999-12-31T23:59"]),
)

# The clocks furthest from UTC (+14 and -11): a time shown on them may pass the calendar's ends.
FAR_CLOCKS = ("Pacific/Kiritimati", "Pacific/Pago_Pago")


def on_clock(client: Any, zone: str) -> None:
    """The signed-in staff member reads and types times on `zone`, as chosen in My settings."""
    session = client.session
    session[SESSION_KEY] = zone
    session.save()


# Few examples each: every one is a request or three against the real database.
FEW = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@contextmanager
def rolled_back() -> Iterator[None]:
    """One example's writes are undone before the next example, which starts from the same data."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def assert_answered(response: HttpResponse) -> None:
    """Whatever was typed, the server answers: a page, a form error or a redirect, never a 5xx."""
    assert response.status_code < 500, response.status_code
    # Shown by --hypothesis-show-statistics: how many examples were saved and how many refused.
    event(f"answered {response.status_code}")


def assert_no_raw_markup(response: HttpResponse, typed: str) -> None:
    body = response.content.decode()
    for markup in MARKUP:
        if markup in typed:
            assert markup not in body


def assert_shows(response: HttpResponse, value: str, *, multiline: bool = False) -> None:
    """The page shows the stored value, escaped (and with <br> for line breaks in long text)."""
    assert response.status_code == 200
    body = response.content.decode()
    shown = linebreaksbr(value, autoescape=True) if multiline else escape(value)
    assert shown in body
    assert_no_raw_markup(response, value)


def assert_form_refused(response: Any, *forms: str) -> None:
    """The form came back (200, or 400 for some pages) with at least one error on it."""
    assert response.status_code in {200, 400}, response.status_code
    assert any(_has_errors(response.context[name]) for name in forms if name in response.context)


def _has_errors(form: object) -> bool:
    # A formset's errors are a list of dicts, truthy even when every dict is empty.
    count = getattr(form, "total_error_count", None)
    return count() > 0 if count else bool(getattr(form, "errors", None))
