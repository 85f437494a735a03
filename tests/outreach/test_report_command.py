"""`manage.py consultation_report`: the dashboard's figures as text or JSON, with its filters."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crm.models import Union
from crm.nato import member_codes
from outreach.models import Attendance, Concern, Consultation, FollowUp, Topic
from outreach.reports import ReportFilters, consultation_report, report_tables
from tests.factories import ConsultationFactory, ContactFactory, FollowUpFactory, UnionFactory

pytestmark = pytest.mark.django_db

TOP_KEYS = {
    "total_consultations",
    "planned",
    "cancelled",
    "unique_contacts_reached",
    "unions_engaged",
    "countries_engaged",
    "nato_coverage",
    "by_month",
    "by_country",
    "by_union",
    "by_topic",
    "positions",
    "top_concerns",
    "followups",
}
POSITION_KEYS = {"strong_support", "support", "conditional", "neutral", "opposed", "not_discussed"}
FOLLOWUP_KEYS = {"scheduled", "sent", "failed", "overdue", "suppressed", "cancelled"}


def _report(*args: str) -> str:
    out = io.StringIO()
    call_command("consultation_report", *args, stdout=out)
    return out.getvalue()


def _json(*args: str) -> dict[str, Any]:
    return json.loads(_report("--json", *args))


def _held(
    country: str,
    when: datetime,
    *,
    unions: tuple[Union, ...] = (),
    topics: tuple[str, ...] = (),
    concerns: tuple[str, ...] = (),
    attendees: int = 0,
    **fields: Any,
) -> Consultation:
    consultation = ConsultationFactory.create(country=country, starts_at=when, **fields)
    consultation.unions.add(*unions)
    consultation.topics.add(*Topic.objects.filter(slug__in=topics))
    consultation.concerns.add(*Concern.objects.filter(slug__in=concerns))
    for contact in ContactFactory.create_batch(attendees):
        Attendance.objects.create(consultation=consultation, contact=contact)
    return consultation


@pytest.fixture
def campaign() -> dict[str, Union]:
    """Two unions named alike in two countries, a local, and consultations over three months."""
    de = UnionFactory.create(name="IG Metall", acronym="IGM", country="DE")
    at = UnionFactory.create(name="IG Metall", acronym="", country="AT")
    kiel = UnionFactory.create(
        name="IG Metall Kiel", acronym="", country="DE", kind=Union.Kind.LOCAL, parent=de
    )
    fr = UnionFactory.create(name="FTM-CGT", acronym="", country="FR")
    position = Consultation.Position
    _held(
        "DE",
        datetime(2024, 1, 15, 10, tzinfo=UTC),
        unions=(de,),
        topics=("welding",),
        concerns=("wages",),
        attendees=2,
        position=position.STRONG_SUPPORT,
    )
    _held(
        "DE",
        datetime(2024, 2, 20, 10, tzinfo=UTC),
        unions=(kiel,),
        topics=("welding", "safety"),
        concerns=("wages", "offshoring"),
        attendees=1,
        position=position.CONDITIONAL,
    )
    # 23:30 on 31 March in Warsaw (21:30 UTC): a March meeting.
    warsaw = _held(
        "PL",
        datetime(2024, 3, 31, 21, 30, tzinfo=UTC),
        unions=(fr,),
        topics=("quality",),
        attendees=3,
        position=position.OPPOSED,
    )
    FollowUpFactory.create(
        consultation=warsaw,
        contact=warsaw.attendees.first(),
        status=FollowUp.Status.SENT,
        sent_at=warsaw.starts_at + timedelta(days=1),
    )
    FollowUpFactory.create(consultation=warsaw, status=FollowUp.Status.SUPPRESSED)
    _held("AT", datetime(2024, 3, 5, 9, tzinfo=UTC), unions=(at,), attendees=1)
    _held("FR", datetime(2024, 4, 1, 9, tzinfo=UTC), status=Consultation.Status.PLANNED)
    _held("FR", datetime(2024, 2, 1, 9, tzinfo=UTC), status=Consultation.Status.CANCELLED)
    return {"de": de, "at": at, "kiel": kiel, "fr": fr}


def test_it_prints_json_with_exactly_the_agreed_keys(campaign):
    data = _json()
    assert set(data) == TOP_KEYS
    assert set(data["nato_coverage"]) == {"consulted", "not_consulted"}
    assert set(data["positions"]) == POSITION_KEYS
    assert set(data["followups"]) == FOLLOWUP_KEYS
    for codes in data["nato_coverage"].values():
        assert codes == sorted(codes)
        assert all(len(code) == 2 and code.isupper() for code in codes)
    assert set(data["nato_coverage"]["consulted"]) | set(
        data["nato_coverage"]["not_consulted"]
    ) == set(member_codes())


def test_it_prints_the_same_figures_as_the_report(campaign):
    data = _json()
    assert data == consultation_report(filters=ReportFilters()).as_json()
    assert data["total_consultations"] == 4
    assert data["planned"] == 1
    assert data["cancelled"] == 1
    assert data["unique_contacts_reached"] == 7
    assert data["unions_engaged"] == 4
    assert data["countries_engaged"] == 3
    assert data["nato_coverage"]["consulted"] == ["DE", "PL"]
    assert "FR" in data["nato_coverage"]["not_consulted"]  # planned and cancelled only
    assert "AT" not in data["nato_coverage"]["not_consulted"]  # not a member
    assert data["by_month"] == {"2024-01": 1, "2024-02": 1, "2024-03": 2}
    assert data["by_country"] == {"DE": 2, "AT": 1, "PL": 1}
    # Namesakes are told apart by their country.
    assert data["by_union"] == {
        "FTM-CGT": 1,
        "IG Metall (AT)": 1,
        "IG Metall (DE)": 1,
        "IG Metall Kiel": 1,
    }
    welding = str(Topic.objects.get(slug="welding"))
    assert data["by_topic"][welding] == 2
    assert sum(data["by_topic"].values()) == 4
    assert data["top_concerns"][str(Concern.objects.get(slug="wages"))] == 2
    assert data["positions"] == {
        "strong_support": 1,
        "support": 0,
        "conditional": 1,
        "neutral": 0,
        "opposed": 1,
        "not_discussed": 1,
    }
    assert data["followups"] == {
        "scheduled": 0,
        "sent": 1,
        "failed": 0,
        "overdue": 0,
        "suppressed": 1,
        "cancelled": 0,
    }


def test_it_prints_json_for_an_empty_database():
    data = _json()
    assert set(data) == TOP_KEYS
    assert data == consultation_report(filters=ReportFilters()).as_json()
    assert data["total_consultations"] == 0
    assert data["nato_coverage"] == {"consulted": [], "not_consulted": sorted(member_codes())}
    assert data["positions"] == dict.fromkeys(POSITION_KEYS, 0)
    assert data["followups"] == dict.fromkeys(FOLLOWUP_KEYS, 0)


@pytest.mark.parametrize(
    ("args", "filters"),
    [
        (["--from", "2024-02-01"], {"date_from": date(2024, 2, 1)}),
        (["--to", "2024-03-31"], {"date_to": date(2024, 3, 31)}),
        (
            ["--from", "2024-02-01", "--to", "2024-02-29"],
            {"date_from": date(2024, 2, 1), "date_to": date(2024, 2, 29)},
        ),
        (
            ["--from", "2024-03-05", "--to", "2024-03-05"],
            {"date_from": date(2024, 3, 5), "date_to": date(2024, 3, 5)},
        ),
        (["--country", "DE"], {"country": "DE"}),
        (["--country", " pl "], {"country": "PL"}),
    ],
)
def test_it_filters_as_the_report_does(campaign, args, filters):
    data = _json(*args)
    assert data == consultation_report(filters=ReportFilters(**filters)).as_json()


def test_it_counts_a_meeting_on_the_day_it_took_place_where_it_took_place(campaign):
    assert _json("--to", "2024-03-31")["by_month"]["2024-03"] == 2
    assert _json("--from", "2024-04-01")["total_consultations"] == 0
    assert _json("--from", "2024-03-31", "--to", "2024-03-31")["by_country"] == {"PL": 1}


def test_it_filters_by_date_and_country(campaign):
    data = _json("--from", "2024-02-01", "--to", "2024-02-29", "--country", "de")
    assert data["total_consultations"] == 1
    assert data["by_union"] == {"IG Metall Kiel": 1}
    assert data["cancelled"] == 0  # the cancelled one was in France


def test_it_finds_a_union_by_name_whatever_the_case(campaign):
    data = _json("--union", "ftm-cgt")
    assert data == consultation_report(filters=ReportFilters(union=campaign["fr"])).as_json()
    assert data["total_consultations"] == 1
    assert data["by_country"] == {"PL": 1}


def test_it_takes_a_unions_locals_in(campaign):
    data = _json("--union", "IG Metall (DE)")
    assert data == consultation_report(filters=ReportFilters(union=campaign["de"])).as_json()
    assert data["total_consultations"] == 2
    assert data["by_union"] == {"IG Metall": 1, "IG Metall Kiel": 1}


def test_it_picks_one_of_several_namesakes_by_country(campaign):
    assert _json("--union", "ig metall (at)")["by_country"] == {"AT": 1}
    assert _json("--union", "  IG Metall (DE) ")["total_consultations"] == 2


def test_it_finds_a_union_whose_name_ends_like_a_country(campaign):
    odd = UnionFactory.create(name="Shipbuilders (NO)", acronym="", country="GB")
    _held("GB", datetime(2024, 5, 2, 9, tzinfo=UTC), unions=(odd,))
    assert _json("--union", "Shipbuilders (NO)")["by_country"] == {"GB": 1}


def test_it_asks_which_union_when_several_share_the_name(campaign):
    with pytest.raises(CommandError) as error:
        _report("--union", "ig metall")
    message = str(error.value)
    assert "Several unions are named 'ig metall'" in message
    assert "IG Metall (DE)" in message
    assert "IG Metall (AT)" in message


@pytest.mark.parametrize("name", ["Nobody's Union", "IG Metall (FR)", "IG Met"])
def test_it_refuses_an_unknown_union(campaign, name):
    with pytest.raises(CommandError, match="No union is named"):
        _report("--union", name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2024-13-01"], "Not a date (YYYY-MM-DD): '2024-13-01'"),
        (["--to", "yesterday"], "Not a date (YYYY-MM-DD): 'yesterday'"),
        (["--from", "2024-02-30"], "Not a date"),
        (["--country", "ZZ"], "Not an ISO 3166 alpha-2 country code: 'ZZ'"),
        (["--country", "Germany"], "Not an ISO 3166 alpha-2 country code"),
        (["--from", "2024-03-01", "--to", "2024-02-01"], "--to is before --from."),
    ],
)
def test_it_refuses_bad_filters_with_a_clear_message(campaign, args, message):
    with pytest.raises(CommandError) as error:
        _report(*args)
    assert message in str(error.value)


def test_it_prints_every_section_and_the_totals_as_text(campaign):
    text = _report()
    report = consultation_report(filters=ReportFilters())
    for table in report_tables(report).values():
        assert f"\n{table.title}\n{'-' * len(str(table.title))}\n" in text
    assert "Consultations held: 4\n" in text
    assert "Planned: 1\n" in text
    assert "Cancelled: 1\n" in text
    assert "Unique contacts reached: 7\n" in text
    assert "Unions engaged: 4\n" in text
    assert "Countries engaged: 3\n" in text
    assert f"NATO member states consulted: 2/{len(member_codes())}\n" in text
    assert "DE | Germany | yes | 2\n" in text
    assert "IG Metall (AT): 1\n" in text
    assert "2024-03: 2\n" in text


def test_it_prints_a_filtered_text_report(campaign):
    text = _report("--country", "AT")
    assert "Consultations held: 1\n" in text
    assert "IG Metall: 1\n" in text  # alone, it needs no country
    assert "(none)" in text  # no concerns were raised in Austria


def test_it_reads_none_in_an_empty_table():
    text = _report()
    assert "Consultations held: 0\n" in text
    assert "Consultations by month\n----------------------\n(none)\n" in text
