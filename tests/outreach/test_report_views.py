"""The managers' report pages: who may open them, what the files hold, and how bad filters,
hostile names and larger data sets are met."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_countries import countries
from openpyxl import load_workbook

from crm.models import Union
from crm.nato import member_codes
from outreach.models import Attendance, Concern, Consultation, FollowUp, Topic
from outreach.reports import (
    COMMENT_TABLE_KEYS,
    TABLE_KEYS,
    ReportFilters,
    consultation_report,
    report_tables,
)
from tests.factories import ConsultationFactory, ContactFactory, FollowUpFactory, UnionFactory

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("reports:dashboard")
FORMATS = ("csv", "xlsx")
TABLE_URLS = [
    reverse("reports:table_export", kwargs={"table": key, "file_format": file_format})
    for key in TABLE_KEYS
    for file_format in FORMATS
]
CONSULTATION_URLS = [
    reverse("reports:consultations_export", kwargs={"file_format": file_format})
    for file_format in FORMATS
]
EVERY_URL = [DASHBOARD, *TABLE_URLS, *CONSULTATION_URLS]


def _held(
    country: str = "DE",
    *,
    unions: tuple[Union, ...] = (),
    topics: tuple[str, ...] = (),
    concerns: tuple[str, ...] = (),
    attendees: int = 0,
    position: str = Consultation.Position.SUPPORT,
    status: str = Consultation.Status.HELD,
    **fields: Any,
) -> Consultation:
    consultation = ConsultationFactory.create(
        country=country, position=position, status=status, **fields
    )
    consultation.unions.add(*unions)
    consultation.topics.add(*Topic.objects.filter(slug__in=topics))
    consultation.concerns.add(*Concern.objects.filter(slug__in=concerns))
    for contact in ContactFactory.create_batch(attendees, country=country):
        Attendance.objects.create(consultation=consultation, contact=contact)
    return consultation


def _campaign() -> None:
    """A small campaign in two NATO countries and one outside NATO."""
    ig_metall = UnionFactory.create(name="IG Metall", acronym="IGM", country="DE")
    local = UnionFactory.create(
        name="IG Metall Kiel", acronym="", country="DE", kind=Union.Kind.LOCAL, parent=ig_metall
    )
    fr = UnionFactory.create(name="FTM-CGT", acronym="", country="FR")
    _held("DE", unions=(ig_metall,), topics=("welding",), concerns=("wages",), attendees=2)
    _held(
        "DE",
        unions=(local,),
        topics=("welding", "safety"),
        concerns=("offshoring",),
        attendees=1,
        position=Consultation.Position.CONDITIONAL,
    )
    sent = _held("FR", unions=(fr,), topics=("quality",), attendees=3)
    FollowUpFactory.create(
        consultation=sent,
        contact=sent.attendees.first(),
        status=FollowUp.Status.SENT,
        sent_at=sent.starts_at + timedelta(days=2),
    )
    _held("CH", unions=(fr,), position=Consultation.Position.OPPOSED)
    _held("PL", status=Consultation.Status.PLANNED)
    _held("IT", status=Consultation.Status.CANCELLED)


def _grant_reports(user: User) -> None:
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="outreach", codename="view_reports")
    )


def _body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(_body(response).decode("utf-8-sig"))))


def _xlsx(response) -> list[list[Any]]:
    workbook = load_workbook(io.BytesIO(_body(response)), read_only=True)
    return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]


def _as_text(cell: Any) -> str:
    return cell if isinstance(cell, str) else str(cell)


def _as_xlsx(cell: Any) -> Any:
    if isinstance(cell, int | float):
        return cell
    return str(cell) or None  # an empty cell reads back as None


# Who may open the report.


@pytest.fixture
def granted_organizer(organizer, administrator) -> User:
    """An organizer who was given the report by an administrator, outside any role."""
    _grant_reports(organizer)
    return organizer


PERSONA_OUTCOMES = {
    "anonymous": "login",
    "outsider": 403,
    "outreach_staffer": 403,
    "organizer": 403,
    "manager": 200,
    "administrator": 200,
    "granted_organizer": 200,
}


@pytest.mark.parametrize("persona", list(PERSONA_OUTCOMES))
def test_it_lets_only_managers_and_administrators_open_every_report_url(request, persona):
    _campaign()
    client = Client()
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    expected = PERSONA_OUTCOMES[persona]
    failures = []
    for url in EVERY_URL:
        response = client.get(url, {"country": "DE"})
        if expected == "login":
            ok = response.status_code == 302 and response["Location"].startswith(
                f"{reverse('login')}?next="
            )
        else:
            ok = response.status_code == expected
            if ok and expected == 200:
                _body(response)  # a streamed file is produced to its end without an error
        if not ok:
            failures.append(f"{url}: expected {expected}, got {response.status_code}")
    assert failures == []


def test_it_sends_anonymous_visitors_to_login_and_back_to_the_report(client):
    response = client.get(DASHBOARD, {"country": "DE"})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("login")
    assert parse_qs(location.query)["next"] == [f"{DASHBOARD}?country=DE"]


def test_it_stops_reading_the_report_when_the_grant_is_withdrawn(organizer, administrator):
    _grant_reports(organizer)
    client = Client()
    client.force_login(organizer)
    assert client.get(DASHBOARD).status_code == 200
    organizer.user_permissions.clear()
    assert client.get(DASHBOARD).status_code == 403


@pytest.mark.parametrize(
    ("persona", "shown"),
    [
        ("outreach_staffer", False),
        ("organizer", False),
        ("manager", True),
        ("administrator", True),
        ("granted_organizer", True),
    ],
)
def test_it_shows_reports_in_the_navigation_only_to_those_who_may_read_them(
    request, persona, shown
):
    client = Client()
    client.force_login(request.getfixturevalue(persona))
    page = client.get(reverse("my_settings")).content.decode()
    assert ('data-nav="reports"' in page) is shown
    if shown:
        assert f'href="{DASHBOARD}" data-nav="reports"' in page
        assert ">Reports</a>" in page


def test_it_marks_reports_as_the_current_page_on_the_dashboard(manager_client):
    page = manager_client.get(DASHBOARD).content.decode()
    assert f'href="{DASHBOARD}" data-nav="reports" aria-current="page"' in page


def test_it_answers_404_for_a_table_that_does_not_exist(manager_client):
    assert manager_client.get("/reports/nope.csv").status_code == 404
    assert manager_client.get("/reports/nope.xlsx").status_code == 404
    assert manager_client.get("/reports/summary.pdf").status_code == 404
    assert manager_client.get("/reports/Summary.csv").status_code == 404


# What the files hold.


@pytest.mark.parametrize("key", TABLE_KEYS)
def test_it_exports_each_table_as_the_report_computes_it(manager_client, key):
    _campaign()
    tables = report_tables(consultation_report(filters=ReportFilters(country="DE")))
    expected = tables[key]
    assert expected.rows  # the campaign fills every table

    url = reverse("reports:table_export", kwargs={"table": key, "file_format": "csv"})
    response = manager_client.get(url, {"country": "DE"})
    assert response.status_code == 200
    stamp = f"{timezone.localdate():%Y-%m-%d}"
    slug = key.replace("_", "-")
    assert response["Content-Disposition"] == f'attachment; filename="report-{slug}-{stamp}.csv"'
    rows = _csv(response)
    assert rows[0] == [str(title) for title in expected.header]
    assert rows[1:] == [[_as_text(cell) for cell in row] for row in expected.rows]

    url = reverse("reports:table_export", kwargs={"table": key, "file_format": "xlsx"})
    response = manager_client.get(url, {"country": "DE"})
    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"] == f'attachment; filename="report-{slug}-{stamp}.xlsx"'
    rows = _xlsx(response)
    assert rows[0] == [str(title) for title in expected.header]
    assert rows[1:] == [[_as_xlsx(cell) for cell in row] for row in expected.rows]


def test_it_exports_the_figures_of_the_filter_only(manager_client):
    _campaign()
    url = reverse("reports:table_export", kwargs={"table": "countries", "file_format": "csv"})
    everything = _csv(manager_client.get(url))
    assert [row[0] for row in everything[1:]] == ["DE", "FR", "CH"]  # most first, then by name
    assert everything[1] == ["DE", "Germany", "yes", "2"]
    assert everything[3] == ["CH", "Switzerland", "no", "1"]
    assert _csv(manager_client.get(url, {"country": "FR"}))[1:] == [["FR", "France", "yes", "1"]]
    summary = reverse("reports:table_export", kwargs={"table": "summary", "file_format": "csv"})
    figures = dict(_csv(manager_client.get(summary))[1:])
    assert figures["Consultations held"] == "4"
    assert figures["Planned"] == "1"
    assert figures["Cancelled"] == "1"
    assert figures["Unique contacts reached"] == "6"
    assert figures["NATO member states consulted"] == f"2/{len(member_codes())}"


def test_it_exports_the_consultations_the_report_counts(manager_client):
    _campaign()
    url = reverse("reports:consultations_export", kwargs={"file_format": "csv"})
    rows = _csv(manager_client.get(url, {"country": "DE"}))
    assert rows[0][:3] == ["Starts at", "Title", "Status"]
    assert len(rows) == 3  # the two held in Germany
    assert {row[4] for row in rows[1:]} == {"DE"}
    assert {row[2] for row in rows[1:]} == {"Held"}
    everything = _csv(manager_client.get(url))
    assert len(everything) == 1 + 4  # planned and cancelled ones are not counted

    url = reverse("reports:consultations_export", kwargs={"file_format": "xlsx"})
    sheet = _xlsx(manager_client.get(url, {"country": "DE"}))
    assert sheet[0] == rows[0]
    assert [["" if cell is None else _as_text(cell) for cell in row] for row in sheet[1:]] == rows[
        1:
    ]


def test_it_takes_in_a_unions_locals_when_filtering_by_it(manager_client):
    _campaign()
    ig_metall = Union.objects.get(name="IG Metall")
    url = reverse("reports:table_export", kwargs={"table": "unions", "file_format": "csv"})
    rows = _csv(manager_client.get(url, {"union": ig_metall.pk}))
    assert rows[1:] == [["IG Metall", "1"], ["IG Metall Kiel", "1"]]


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0"])
def test_it_defuses_formula_like_names_in_every_export(manager_client, name):
    union = UnionFactory.create(name=name, acronym="", country="DE")
    _held("DE", unions=(union,), title="-2+3")
    escaped = "'" + name

    table = reverse("reports:table_export", kwargs={"table": "unions", "file_format": "csv"})
    assert _csv(manager_client.get(table))[1:] == [[escaped, "1"]]
    table = reverse("reports:table_export", kwargs={"table": "unions", "file_format": "xlsx"})
    assert _xlsx(manager_client.get(table))[1:] == [[escaped, 1]]

    listing = reverse("reports:consultations_export", kwargs={"file_format": "csv"})
    row = _csv(manager_client.get(listing))[1]
    assert row[1] == "'-2+3"
    assert row[6] == escaped
    listing = reverse("reports:consultations_export", kwargs={"file_format": "xlsx"})
    row = _xlsx(manager_client.get(listing))[1]
    assert row[1] == "'-2+3"
    assert row[6] == escaped


def test_it_escapes_names_in_the_page(manager_client):
    union = UnionFactory.create(name='<script>alert("x")</script>', acronym="", country="DE")
    _held("DE", unions=(union,))
    page = manager_client.get(DASHBOARD).content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    # In the table and in the chart beside it.
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 2


def test_it_escapes_a_hostile_query_string_in_the_export_links(manager_client):
    response = manager_client.get(DASHBOARD, {"country": '"><script>alert(1)</script>'})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert(1)" not in page


# Bad filters: the page explains, it never fails.


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "notadate"}, "date_from"),
        ({"date_to": "2024-02-30"}, "date_to"),
        ({"union": "999999"}, "union"),
        ({"union": "abc"}, "union"),
        ({"union": "9" * 40}, "union"),
        ({"union": "\x00"}, "union"),
        ({"sector": "999999"}, "sector"),
        ({"topic": "nope"}, "topic"),
        ({"staff": "999999"}, "staff"),
        ({"country": "ZZ"}, "country"),
        ({"country": "\x00"}, "country"),
        ({"format": "bogus"}, "format"),
        ({"date_from": "2024-05-01", "date_to": "2024-04-01"}, "date_to"),
        ({"date_from": "9" * 10_000}, "date_from"),
        ({"country": "Z" * 10_000}, "country"),
        ({"format": "x" * 10_000}, "format"),
    ],
)
def test_it_explains_a_bad_filter_and_still_shows_the_report(manager_client, params, field):
    _campaign()
    response = manager_client.get(DASHBOARD, params)
    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors
    page = response.content.decode()
    for message in form.errors[field]:
        assert f'<small class="field-error" role="alert">{html.escape(message)}</small>' in page
    # The bad value is left out; the rest of the report is there.
    assert 'data-figure="total_consultations"' in page
    for url in [*TABLE_URLS, *CONSULTATION_URLS]:
        response = manager_client.get(url, params)
        assert response.status_code == 200, url
        _body(response)


def test_it_keeps_the_good_filters_beside_a_bad_one(manager_client):
    _campaign()
    response = manager_client.get(DASHBOARD, {"country": "FR", "union": "999999"})
    assert response.status_code == 200
    assert response.context["report"].total_consultations == 1
    assert "union" in response.context["form"].errors


def test_it_says_that_the_end_date_is_before_the_start(manager_client):
    _campaign()
    response = manager_client.get(DASHBOARD, {"date_from": "2024-05-01", "date_to": "2024-04-01"})
    assert "The end date is before the start date." in response.content.decode()
    assert response.context["report"].filters.date_to is None


# The page itself.


def test_it_shows_the_totals_charts_and_every_table(manager_client):
    _campaign()
    response = manager_client.get(DASHBOARD)
    report = response.context["report"]
    page = response.content.decode()
    assert report.total_consultations == 4
    assert '<dd data-figure="total_consultations">4</dd>' in page
    assert '<dd data-figure="unique_contacts_reached">6</dd>' in page
    assert '<dd data-figure="unions_engaged">3</dd>' in page
    assert '<dd data-figure="countries_engaged">3</dd>' in page
    assert f'<dd data-figure="nato_coverage">2/{len(member_codes())}</dd>' in page
    assert '<dd data-figure="planned">1</dd>' in page
    assert '<dd data-figure="cancelled">1</dd>' in page
    for key in TABLE_KEYS:
        assert f'data-table="{key}"' in page
        assert f'data-export="{key}-csv"' in page
        assert f'data-export="{key}-xlsx"' in page
    for chart in ("months", "countries", "unions", "topics", "positions", "concerns"):
        assert f'data-chart="{chart}"' in page
    assert 'data-chart="positions-by-country"' in page


def test_it_shows_an_empty_report_without_failing(manager_client):
    response = manager_client.get(DASHBOARD)
    assert response.status_code == 200
    page = response.content.decode()
    assert '<dd data-figure="total_consultations">0</dd>' in page
    assert "Nothing to count under these filters." in page
    assert "No follow-up sent yet for these consultations." in page


def test_it_draws_the_charts_alike_in_a_language_with_a_decimal_comma(manager_client):
    _campaign()
    _held("DE", position=Consultation.Position.NEUTRAL)  # shares of thirds: long decimals

    def geometry(language: str) -> list[str]:
        response = manager_client.get(DASHBOARD, HTTP_ACCEPT_LANGUAGE=language)
        assert response["Content-Language"] == language
        return re.findall(r"<(?:rect|svg)\b[^>]*>", response.content.decode())

    english, german = geometry("en"), geometry("de")
    assert german == english
    assert any("." in rect for rect in german)
    assert not any("," in rect for rect in german)


def _export_links(page: str) -> dict[str, str]:
    links = re.findall(r'<a href="([^"]*)" data-export="([^"]+)"', page)
    return {name: html.unescape(href) for href, name in links}


def test_it_keeps_the_filter_in_every_export_link(manager_client):
    _campaign()
    union = Union.objects.get(name="IG Metall")
    params = {"country": "DE", "date_from": "2020-01-01", "union": str(union.pk)}
    response = manager_client.get(DASHBOARD, params)
    links = _export_links(response.content.decode())
    expected = {f"{key}-{fmt}" for key in (*TABLE_KEYS, *COMMENT_TABLE_KEYS) for fmt in FORMATS} | {
        "consultations-csv",
        "consultations-xlsx",
    }
    assert set(links) == expected
    wanted = {name: [value] for name, value in params.items()}
    for name, href in links.items():
        parts = urlsplit(href)
        assert parse_qs(parts.query) == wanted, name
        assert manager_client.get(href).status_code == 200
    countries_csv = _csv(manager_client.get(links["countries-csv"]))
    assert [row[0] for row in countries_csv[1:]] == ["DE"]


def test_it_writes_export_links_without_a_query_when_unfiltered(manager_client):
    links = _export_links(manager_client.get(DASHBOARD).content.decode())
    assert links["countries-csv"] == reverse(
        "reports:table_export", kwargs={"table": "countries", "file_format": "csv"}
    )
    assert "?" not in "".join(links.values())


def test_it_lists_the_member_states_not_yet_consulted(manager_client):
    _campaign()  # held in DE, FR and CH; planned in PL, cancelled in IT
    page = manager_client.get(DASHBOARD).content.decode()
    listed = re.search(r'<ul class="not-consulted" data-testid="not-consulted">(.*?)</ul>', page)
    assert listed is not None
    codes = re.findall(r'data-country="([A-Z]{2})">([^<]+)</li>', listed.group(1))
    assert [code for code, _name in codes] == sorted(member_codes() - {"DE", "FR"})
    assert ("PL", "Poland") in codes  # planned there, not held
    assert ("IT", "Italy") in codes  # cancelled there
    assert dict(codes)["GB"] == html.escape(str(countries.name("GB")))
    assert "CH" not in dict(codes)  # consulted, but not a member
    assert f"NATO coverage: 2/{len(member_codes())} member states consulted" in page


def test_it_says_when_every_member_state_was_consulted(manager_client):
    for code in member_codes():
        _held(code)
    page = manager_client.get(DASHBOARD).content.decode()
    assert "Every member state has been consulted." in page
    assert 'data-testid="not-consulted"' not in page


# Queries: the same number whatever the data.


def _big_campaign(size: int) -> None:
    codes = ["DE", *sorted(member_codes() - {"DE"})]  # every filter of the test finds some
    parents = UnionFactory.create_batch(size)
    locals_ = [
        UnionFactory.create(kind=Union.Kind.LOCAL, parent=parent, country="FR")
        for parent in parents
    ]
    topics = list(Topic.objects.values_list("slug", flat=True))
    concerns = list(Concern.objects.values_list("slug", flat=True))
    positions = [value for value, _label in Consultation.Position.choices]
    for number in range(size * 3):
        consultation = _held(
            codes[number % len(codes)],
            unions=(parents[number % size], locals_[(number + 1) % size]),
            topics=tuple(topics[number % len(topics) :][:3]),
            concerns=tuple(concerns[number % len(concerns) :][:2]),
            attendees=2,
            position=positions[number % len(positions)],
            starts_at=datetime(2024, 1 + number % 12, 10, 12, tzinfo=UTC),
        )
        FollowUpFactory.create(
            consultation=consultation,
            contact=consultation.attendees.first(),
            status=FollowUp.Status.SENT,
            sent_at=consultation.starts_at + timedelta(days=number % 5 + 1),
        )
        FollowUpFactory.create(consultation=consultation, status=FollowUp.Status.FAILED)
    _held("PL", status=Consultation.Status.PLANNED)


def _queries(client: Client, url: str, params: dict[str, str]) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
        _body(response)
    assert response.status_code == 200
    return len(queries)


def test_it_runs_as_many_queries_for_a_large_campaign_as_for_a_small_one(manager_client):
    _big_campaign(1)
    parent = Union.objects.filter(parent__isnull=True).first()
    assert parent is not None
    filters = [{}, {"union": str(parent.pk)}, {"country": "DE", "date_from": "2024-01-01"}]
    small = {
        url: [_queries(manager_client, url, params) for params in filters] for url in EVERY_URL
    }
    _big_campaign(12)
    assert Consultation.objects.filter(status=Consultation.Status.HELD).count() == 3 + 36
    large = {
        url: [_queries(manager_client, url, params) for params in filters] for url in EVERY_URL
    }
    assert large == small


def test_it_shows_the_public_comments_beside_the_consultations(manager_client):
    from tests.factories import PublicCommentFactory

    PublicCommentFactory.create(country="DE", status="published")
    PublicCommentFactory.create(country="DE", consent_to_publish=False)
    PublicCommentFactory.create(country="PL", status="spam")
    PublicCommentFactory.create(country="FR", union_name="<script>alert(1)</script>")
    page = manager_client.get("/reports/").content.decode()
    assert "Public comments by country" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    rows = _csv(manager_client.get("/reports/comments_by_country.csv"))
    assert rows[1:] == [["Germany", "2"], ["France", "1"]]
    summary = dict(_csv(manager_client.get("/reports/comments.csv"))[1:])
    assert summary["Comments received (not spam)"] == "3"
    assert summary["Published"] == "1"
    assert summary["Published share (%)"] == "33.3"
    assert summary["Spam"] == "1"
    only_germany = _csv(manager_client.get("/reports/comments_by_country.csv?country=DE"))
    assert only_germany[1:] == [["Germany", "2"]]


def test_it_lists_the_top_unions_and_says_how_many_more_are_in_the_file(
    manager_client, monkeypatch
):
    from outreach import report_views

    unions = [UnionFactory.create(name=f"Union {n:02d}", country="DE") for n in range(3)]
    for union in unions:
        consultation = ConsultationFactory.create(country="DE")
        consultation.unions.add(union)
    monkeypatch.setattr(report_views, "UNIONS_SHOWN", 2)
    page = manager_client.get("/reports/").content.decode()
    assert "And 1 more union: download the table for all of them." in page
    assert len(_csv(manager_client.get("/reports/unions.csv"))) == 4
