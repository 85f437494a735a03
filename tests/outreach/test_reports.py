"""The consultation report (outreach.reports): every figure, every filter, local dates, queries."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Contact, Sector, Union
from outreach.models import Concern, Consultation, FollowUp, Topic
from outreach.reports import Report, ReportFilters, consultation_report, uses_running_totals
from outreach.reports import _report as base_report
from tests.factories import (
    ConsultationFactory,
    ContactFactory,
    FollowUpFactory,
    SiteFactory,
    UnionFactory,
    UserFactory,
)

pytestmark = pytest.mark.usefixtures("postgres")

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
Status = Consultation.Status
Format = Consultation.Format
Position = Consultation.Position
FollowUpStatus = FollowUp.Status

NATO = [
    "AL", "BE", "BG", "CA", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GB", "GR", "HR", "HU",
    "IS", "IT", "LT", "LU", "LV", "ME", "MK", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
    "TR", "US",
]  # fmt: skip

WELDING = "Welding qualification and certification"
QUALITY = "Quality management (AS9100 / AQAP 2110)"
SAFETY = "Occupational safety (ISO 45001)"
APPRENTICESHIPS = "Apprenticeships and recognition of skills across borders"
OFFSETS = "Job in-sourcing and offset protections"
STANAG = "Interoperability standards (STANAG)"

# Nine queries: statuses, months, countries and positions, unions, topics, concerns, contacts,
# follow-ups, median delay; one more to find the locals of a union.
REPORT_QUERIES = 9
UNION_REPORT_QUERIES = 10
# From the running totals (a country and whole months): the sums by kind, the months and
# positions, the people reached; the names of the unions, topics and concerns; overdue follow-ups.
TOTALS_REPORT_QUERIES = 7
# On PostgreSQL, one more to tune the report's transaction (SET LOCAL).
TUNING_QUERIES = 1

NO_FOLLOWUPS = dict.fromkeys(
    ["scheduled", "sent", "failed", "overdue", "suppressed", "cancelled"], 0
)


@pytest.fixture
def frozen() -> Iterator[None]:
    """Mid-June 2026: every consultation below but the planned one is in the past."""
    with time_machine.travel(NOW, tick=False):
        yield


def _consultation(
    *,
    starts_at: datetime,
    lead: User,
    unions: Sequence[Union] = (),
    topics: Sequence[str] = (),
    concerns: Sequence[str] = (),
    attendees: Sequence[Contact] = (),
    other_staff: Sequence[User] = (),
    **fields: Any,
) -> Consultation:
    consultation = ConsultationFactory.create(starts_at=starts_at, lead=lead, **fields)
    consultation.unions.set(unions)
    consultation.topics.set(Topic.objects.filter(slug__in=topics))
    consultation.concerns.set(Concern.objects.filter(slug__in=concerns))
    consultation.attendees.set(attendees)
    consultation.other_staff.set(other_staff)
    return consultation


def _sent(consultation: Consultation, after: timedelta, contact: Contact) -> FollowUp:
    sent_at = consultation.starts_at + after
    return FollowUpFactory.create(
        consultation=consultation,
        contact=contact,
        owner=consultation.lead,
        status=FollowUpStatus.SENT,
        send_at=sent_at,
        sent_at=sent_at,
    )


def _followup(
    consultation: Consultation | None, status: str, send_at: datetime, contact: Contact
) -> FollowUp:
    return FollowUpFactory.create(
        consultation=consultation,
        contact=contact,
        owner=consultation.lead if consultation else UserFactory.create(),
        status=status,
        send_at=send_at,
    )


@dataclass
class World:
    staffer: User
    organizer: User
    manager: User
    ig: Union  # national union (land systems)
    ig_munich: Union  # its local (aerospace)
    ig_plant7: Union  # a local of that local
    ig_hamburg: Union  # a sibling local (aerospace)
    unite_gb: Union
    unite_ie: Union  # same name, non-NATO country
    opzz: Union
    usw: Union  # shipbuilding
    held: dict[str, Consultation]


@pytest.fixture
def world(frozen, outreach_staffer, organizer, manager) -> World:
    """Nine held consultations (c1-c9), one planned and two cancelled ones.

    c1 DE 15 Jan   in person  IG Metall Munich          welding, quality   strong support
    c2 DE 20 Jan   site visit IG Metall Munich Plant 7  welding            support
    c3 DE 10 Feb   video      IG Metall Hamburg         safety             conditional
    c4 DE  5 Mar   in person  IG Metall, Unite (GB)     quality            neutral
    c5 PL 31 Mar   conference OPZZ (23:30 in Warsaw)    apprenticeships    opposed
    c6 IE 14 Apr   phone      Unite (IE)                welding            support
    c7 US 30 Apr   video      USW (23:30 in New York)   offsets            not discussed
    c8 -- 20 May   video      (no union, no country)    stanag             support
    c9 GB 28 May   in person  Unite (GB)                welding, safety    strong support
    """
    staffer = outreach_staffer
    aerospace = Sector.objects.get(slug="aerospace")
    shipbuilding = Sector.objects.get(slug="shipbuilding")
    land_systems = Sector.objects.get(slug="land-systems")

    ig = UnionFactory.create(name="IG Metall", country="DE")
    ig.sectors.set([land_systems])
    local = Union.Kind.LOCAL
    ig_munich = UnionFactory.create(name="IG Metall Munich", country="DE", kind=local, parent=ig)
    ig_munich.sectors.set([aerospace])
    ig_plant7 = UnionFactory.create(
        name="IG Metall Munich Plant 7", country="DE", kind=local, parent=ig_munich
    )
    ig_hamburg = UnionFactory.create(name="IG Metall Hamburg", country="DE", kind=local, parent=ig)
    ig_hamburg.sectors.set([aerospace])
    unite_gb = UnionFactory.create(name="Unite", country="GB")
    unite_ie = UnionFactory.create(name="Unite", country="IE")
    opzz = UnionFactory.create(name="OPZZ Metalowcy", country="PL")
    usw = UnionFactory.create(name="United Steelworkers", country="US")
    usw.sectors.set([shipbuilding])

    munich_plant = SiteFactory.create(city="München", country="DE", sector=aerospace)
    gdansk_yard = SiteFactory.create(city="Gdańsk", country="PL", sector=shipbuilding)
    cork_depot = SiteFactory.create(city="Cork", country="IE", sector=None)

    p = [ContactFactory.create() for _ in range(12)]  # p[1]..p[11]; p[0] attends nothing

    def at(month: int, day: int) -> datetime:
        return datetime(2026, month, day, 10, 0, tzinfo=UTC)

    held = {
        "c1": _consultation(
            starts_at=at(1, 15),
            lead=staffer,
            other_staff=[organizer, manager],
            format=Format.IN_PERSON,
            site=munich_plant,
            unions=[ig_munich],
            topics=["welding", "quality"],
            concerns=["offshoring", "wages"],
            position=Position.STRONG_SUPPORT,
            attendees=[p[1], p[2], p[3]],
        ),
        "c2": _consultation(
            starts_at=at(1, 20),
            lead=staffer,
            other_staff=[organizer],
            format=Format.SITE_VISIT,
            unions=[ig_plant7],
            topics=["welding"],
            concerns=["offshoring"],
            position=Position.SUPPORT,
            attendees=[p[1], p[4]],
        ),
        "c3": _consultation(
            starts_at=at(2, 10),
            lead=manager,
            format=Format.VIDEO,
            unions=[ig_hamburg],
            topics=["safety"],
            concerns=["health-safety", "offshoring"],
            position=Position.CONDITIONAL,
            attendees=[p[5]],
        ),
        "c4": _consultation(
            starts_at=at(3, 5),
            lead=staffer,
            format=Format.IN_PERSON,
            unions=[ig, unite_gb],
            topics=["quality"],
            concerns=["wages"],
            position=Position.NEUTRAL,
            attendees=[p[2]],
        ),
        "c5": _consultation(
            starts_at=datetime(2026, 3, 31, 21, 30, tzinfo=UTC),  # 23:30 in Warsaw
            country="PL",
            lead=staffer,
            other_staff=[organizer],
            format=Format.CONFERENCE,
            site=gdansk_yard,
            unions=[opzz],
            topics=["apprenticeships"],
            concerns=["language"],
            position=Position.OPPOSED,
            attendees=[p[6], p[1]],
        ),
        "c6": _consultation(
            starts_at=at(4, 14),
            country="IE",
            lead=organizer,
            format=Format.PHONE,
            site=cork_depot,
            unions=[unite_ie],
            topics=["welding"],
            concerns=["offshoring"],
            position=Position.SUPPORT,
            attendees=[p[7]],
        ),
        "c7": _consultation(
            starts_at=datetime(2026, 5, 1, 3, 30, tzinfo=UTC),  # 30 April, 23:30 in New York
            country="US",
            timezone="America/New_York",
            lead=staffer,
            format=Format.VIDEO,
            unions=[usw],
            topics=["offsets"],
            concerns=["offshoring", "recognition"],
            position=Position.NOT_DISCUSSED,
            attendees=[p[8], p[2]],
        ),
        "c8": _consultation(
            starts_at=at(5, 20),
            country="",
            lead=staffer,
            format=Format.VIDEO,
            topics=["stanag"],
            position=Position.SUPPORT,
            attendees=[p[3]],
        ),
        "c9": _consultation(
            starts_at=at(5, 28),
            country="GB",
            lead=staffer,
            format=Format.IN_PERSON,
            unions=[unite_gb],
            topics=["welding", "safety"],
            concerns=["wages", "offshoring"],
            position=Position.STRONG_SUPPORT,
            attendees=[p[9]],
        ),
    }
    planned = _consultation(
        starts_at=at(7, 1),
        status=Status.PLANNED,
        lead=staffer,
        format=Format.IN_PERSON,
        unions=[ig],
        topics=["welding"],
        concerns=["wages"],
        position=Position.SUPPORT,
        attendees=[p[10]],
    )
    cancelled_munich = _consultation(
        starts_at=at(2, 1),
        status=Status.CANCELLED,
        lead=staffer,
        format=Format.IN_PERSON,
        unions=[ig_munich],
        topics=["safety"],
        concerns=["clearances"],
        position=Position.OPPOSED,
        attendees=[p[1]],
    )
    cancelled_gdansk = _consultation(
        starts_at=at(4, 2),
        country="PL",
        status=Status.CANCELLED,
        lead=staffer,
        format=Format.VIDEO,
        unions=[opzz],
        topics=["welding"],
        concerns=["offshoring"],
        position=Position.OPPOSED,
        attendees=[p[11], p[1]],
    )

    c = held
    # First sent e-mail: c1 after 2.5 days (the later one created first), c2 1.5, c3 4.5, c8 10.
    _sent(c["c1"], timedelta(days=3), p[1])
    _sent(c["c1"], timedelta(days=2, hours=12), p[2])
    _sent(c["c2"], timedelta(days=1, hours=12), p[4])
    _sent(c["c3"], timedelta(days=4, hours=12), p[5])
    _sent(c["c8"], timedelta(days=10), p[3])
    _followup(c["c4"], FollowUpStatus.SCHEDULED, NOW + timedelta(days=1), p[2])
    _followup(c["c4"], FollowUpStatus.QUEUED, NOW - timedelta(minutes=5), p[2])  # not yet late
    _followup(c["c5"], FollowUpStatus.SCHEDULED, NOW - timedelta(hours=1), p[6])  # overdue
    _followup(c["c5"], FollowUpStatus.SENDING, NOW - timedelta(minutes=11), p[1])  # overdue
    _followup(c["c6"], FollowUpStatus.FAILED, NOW - timedelta(days=3), p[7])
    _followup(c["c6"], FollowUpStatus.UNKNOWN, NOW - timedelta(days=2), p[7])  # needs review
    _followup(c["c7"], FollowUpStatus.SUPPRESSED, NOW - timedelta(days=5), p[8])
    _followup(c["c7"], FollowUpStatus.CANCELLED, NOW - timedelta(days=5), p[2])
    # Not counted: follow-ups of planned or cancelled consultations, or of none.
    _followup(planned, FollowUpStatus.SCHEDULED, NOW + timedelta(days=20), p[10])
    _sent(cancelled_gdansk, timedelta(hours=2), p[11])
    _sent(cancelled_munich, timedelta(hours=3), p[1])
    FollowUpFactory.create(
        consultation=None,
        contact=p[0],
        owner=staffer,
        status=FollowUpStatus.SENT,
        send_at=NOW - timedelta(days=1),
        sent_at=NOW - timedelta(days=1),
    )
    _followup(None, FollowUpStatus.FAILED, NOW - timedelta(days=1), p[0])

    return World(
        staffer=staffer,
        organizer=organizer,
        manager=manager,
        ig=ig,
        ig_munich=ig_munich,
        ig_plant7=ig_plant7,
        ig_hamburg=ig_hamburg,
        unite_gb=unite_gb,
        unite_ie=unite_ie,
        opzz=opzz,
        usw=usw,
        held=held,
    )


def _report(**filters) -> Report:
    return consultation_report(filters=ReportFilters(**filters))


def _counts(report: Report) -> tuple[int, int, int]:
    return report.total_consultations, report.planned, report.cancelled


def _table(rows) -> list[tuple[str, int]]:
    return [(row.key, row.count) for row in rows]


def _labels(rows) -> list[tuple[str, int]]:
    return [(row.label, row.count) for row in rows]


# Every figure, without filters


def test_it_computes_every_figure_of_the_report(world):
    report = _report()

    assert report.filters.is_empty()
    assert _counts(report) == (9, 1, 2)
    assert report.unique_contacts_reached == 9
    assert report.unions_engaged == 8
    assert report.countries_engaged == 5
    assert report.nato_consulted == ["DE", "GB", "PL", "US"]
    assert report.nato_not_consulted == [
        code for code in NATO if code not in {"DE", "GB", "PL", "US"}
    ]
    assert report.nato_total == 32
    assert _table(report.by_month) == [
        ("2026-01", 2),
        ("2026-02", 1),
        ("2026-03", 2),
        ("2026-04", 2),
        ("2026-05", 2),
    ]
    # Most first, then by country name: Ireland, Poland, United Kingdom, United States.
    assert [(row.key, row.label, row.count) for row in report.by_country] == [
        ("DE", "Germany", 4),
        ("IE", "Ireland", 1),
        ("PL", "Poland", 1),
        ("GB", "United Kingdom", 1),
        ("US", "United States of America", 1),
    ]
    assert [(row.key, row.label, row.count) for row in report.by_union] == [
        (str(world.unite_gb.pk), "Unite (GB)", 2),
        (str(world.ig.pk), "IG Metall", 1),
        (str(world.ig_hamburg.pk), "IG Metall Hamburg", 1),
        (str(world.ig_munich.pk), "IG Metall Munich", 1),
        (str(world.ig_plant7.pk), "IG Metall Munich Plant 7", 1),
        (str(world.opzz.pk), "OPZZ Metalowcy", 1),
        (str(world.unite_ie.pk), "Unite (IE)", 1),
        (str(world.usw.pk), "United Steelworkers", 1),
    ]
    assert [(row.key, row.label, row.count) for row in report.by_topic] == [
        ("welding", WELDING, 4),
        ("safety", SAFETY, 2),
        ("quality", QUALITY, 2),
        ("apprenticeships", APPRENTICESHIPS, 1),
        ("stanag", STANAG, 1),
        ("offsets", OFFSETS, 1),
    ]
    assert [(row.key, row.label, row.count) for row in report.positions] == [
        ("strong_support", "Strong support", 2),
        ("support", "Support", 3),
        ("conditional_support", "Conditional support", 1),
        ("neutral", "Neutral", 1),
        ("opposed", "Opposed", 1),
        ("not_discussed", "Not discussed", 1),
    ]
    zero = dict.fromkeys(
        ["strong_support", "support", "conditional_support", "neutral", "opposed", "not_discussed"],
        0,
    )
    assert report.positions_by_country == {
        "DE": {**zero, "strong_support": 1, "support": 1, "conditional_support": 1, "neutral": 1},
        "PL": {**zero, "opposed": 1},
        "IE": {**zero, "support": 1},
        "US": {**zero, "not_discussed": 1},
        "GB": {**zero, "strong_support": 1},
    }
    assert [(row.key, row.label, row.count) for row in report.top_concerns] == [
        ("offshoring", "Job offshoring", 6),
        ("wages", "Wage and conditions standards", 3),
        ("health-safety", "Health and safety", 1),
        ("language", "Language barriers", 1),
        ("recognition", "Union recognition", 1),
    ]
    assert report.followups == {
        "scheduled": 2,
        "sent": 5,
        "failed": 2,
        "overdue": 2,
        "suppressed": 1,
        "cancelled": 1,
    }
    # First sent e-mails after 1.5, 2.5, 4.5 and 10 days: the median, not the mean (4.6).
    assert report.median_days_to_followup == 3.5


def test_it_gives_the_figures_under_the_keys_of_the_json_contract(world):
    assert _report().as_json() == {
        "total_consultations": 9,
        "planned": 1,
        "cancelled": 2,
        "unique_contacts_reached": 9,
        "unions_engaged": 8,
        "countries_engaged": 5,
        "nato_coverage": {
            "consulted": ["DE", "GB", "PL", "US"],
            "not_consulted": [code for code in NATO if code not in {"DE", "GB", "PL", "US"}],
        },
        "by_month": {"2026-01": 2, "2026-02": 1, "2026-03": 2, "2026-04": 2, "2026-05": 2},
        "by_country": {"DE": 4, "IE": 1, "PL": 1, "GB": 1, "US": 1},
        "by_union": {
            "Unite (GB)": 2,
            "IG Metall": 1,
            "IG Metall Hamburg": 1,
            "IG Metall Munich": 1,
            "IG Metall Munich Plant 7": 1,
            "OPZZ Metalowcy": 1,
            "Unite (IE)": 1,
            "United Steelworkers": 1,
        },
        "by_topic": {
            WELDING: 4,
            SAFETY: 2,
            QUALITY: 2,
            APPRENTICESHIPS: 1,
            STANAG: 1,
            OFFSETS: 1,
        },
        "positions": {
            "strong_support": 2,
            "support": 3,
            "conditional": 1,
            "neutral": 1,
            "opposed": 1,
            "not_discussed": 1,
        },
        "top_concerns": {
            "Job offshoring": 6,
            "Wage and conditions standards": 3,
            "Health and safety": 1,
            "Language barriers": 1,
            "Union recognition": 1,
        },
        "followups": {
            "scheduled": 2,
            "sent": 5,
            "failed": 2,
            "overdue": 2,
            "suppressed": 1,
            "cancelled": 1,
        },
    }


def test_it_reports_nothing_but_every_key_when_nothing_matches(world):
    report = _report(format=Format.EMAIL)
    assert report.as_json() == {
        "total_consultations": 0,
        "planned": 0,
        "cancelled": 0,
        "unique_contacts_reached": 0,
        "unions_engaged": 0,
        "countries_engaged": 0,
        "nato_coverage": {"consulted": [], "not_consulted": NATO},
        "by_month": {},
        "by_country": {},
        "by_union": {},
        "by_topic": {},
        "positions": {
            "strong_support": 0,
            "support": 0,
            "conditional": 0,
            "neutral": 0,
            "opposed": 0,
            "not_discussed": 0,
        },
        "top_concerns": {},
        "followups": NO_FOLLOWUPS,
    }
    assert report.median_days_to_followup is None


def test_it_names_a_union_by_name_alone_when_no_other_union_of_the_report_shares_it(world):
    report = _report(country="GB")
    assert _labels(report.by_union) == [("Unite", 1)]
    assert _report(union=world.ig).as_json()["by_union"] == {
        "IG Metall": 1,
        "IG Metall Hamburg": 1,
        "IG Metall Munich": 1,
        "IG Metall Munich Plant 7": 1,
        "Unite": 1,
    }


def test_it_counts_a_pending_follow_up_overdue_only_past_ten_minutes(frozen, outreach_staffer):
    consultation = _consultation(starts_at=NOW - timedelta(days=1), lead=outreach_staffer)
    contact = ContactFactory.create()
    for late in (timedelta(minutes=10), timedelta(minutes=10, seconds=1)):
        for status in (FollowUpStatus.SCHEDULED, FollowUpStatus.QUEUED, FollowUpStatus.SENDING):
            _followup(consultation, status, NOW - late, contact)
    assert _report().followups == {**NO_FOLLOWUPS, "scheduled": 3, "overdue": 3}


def test_it_keeps_the_ten_commonest_concerns(frozen, outreach_staffer):
    extra = [
        Concern.objects.create(slug=f"extra-{letter}", name=f"Extra concern {letter}")
        for letter in "abc"
    ]
    everything = _consultation(
        starts_at=NOW - timedelta(days=2),
        lead=outreach_staffer,
        concerns=list(Concern.objects.values_list("slug", flat=True)),
    )
    assert everything.concerns.count() == 11
    _consultation(starts_at=NOW - timedelta(days=1), lead=outreach_staffer, concerns=["wages"])

    top = _report().top_concerns
    names = sorted(str(concern) for concern in Concern.objects.exclude(slug="wages"))
    assert _labels(top) == [("Wage and conditions standards", 2)] + [
        (name, 1) for name in names[:9]
    ]
    assert len(top) == 10
    assert names[9] == "Union recognition"  # the tenth with one: left out
    assert [row.key for row in top[3:6]] == [concern.slug for concern in extra]


# Filters


@pytest.mark.parametrize(
    ("date_from", "date_to", "counts", "months"),
    [
        # Inclusive at both ends; the New York meeting is on 30 April there, 1 May in UTC.
        (date(2026, 3, 31), date(2026, 4, 30), (3, 0, 1), {"2026-03": 1, "2026-04": 2}),
        (date(2026, 4, 30), date(2026, 4, 30), (1, 0, 0), {"2026-04": 1}),
        (date(2026, 5, 1), date(2026, 5, 1), (0, 0, 0), {}),
        (date(2026, 5, 1), None, (2, 1, 0), {"2026-05": 2}),
        (None, date(2026, 1, 20), (2, 0, 0), {"2026-01": 2}),
        (None, date(2026, 2, 1), (2, 0, 1), {"2026-01": 2}),
    ],
)
def test_it_filters_by_local_date(world, date_from, date_to, counts, months):
    report = _report(date_from=date_from, date_to=date_to)
    assert _counts(report) == counts
    assert report.as_json()["by_month"] == months


def test_it_filters_by_country(world):
    germany = _report(country="DE")
    assert _counts(germany) == (4, 1, 1)
    assert germany.as_json()["by_country"] == {"DE": 4}
    assert germany.nato_consulted == ["DE"]
    assert germany.unique_contacts_reached == 5
    ireland = _report(country="IE")
    assert _counts(ireland) == (1, 0, 0)
    assert ireland.as_json()["by_country"] == {"IE": 1}
    assert (ireland.nato_consulted, ireland.nato_not_consulted) == ([], NATO)
    assert ireland.followups == {**NO_FOLLOWUPS, "failed": 2}


def test_it_takes_in_the_locals_of_a_union_and_their_locals(world):
    national = _report(union=world.ig)
    assert _counts(national) == (4, 1, 1)
    assert national.unique_contacts_reached == 5  # p1-p5
    assert national.followups == {**NO_FOLLOWUPS, "sent": 4, "scheduled": 2}
    assert national.median_days_to_followup == 2.5

    local = _report(union=world.ig_munich)  # with its own local, not its parent or sibling
    assert _counts(local) == (2, 0, 1)
    assert local.as_json()["by_union"] == {"IG Metall Munich": 1, "IG Metall Munich Plant 7": 1}

    assert _counts(_report(union=world.ig_plant7)) == (1, 0, 0)
    assert _counts(_report(union=world.ig_hamburg)) == (1, 0, 0)
    assert _report(union=world.ig_hamburg).as_json()["by_union"] == {"IG Metall Hamburg": 1}
    assert _counts(_report(union=world.unite_gb)) == (2, 0, 0)
    assert _counts(_report(union=world.unite_ie)) == (1, 0, 0)


@pytest.mark.parametrize(
    ("sector", "counts", "countries"),
    [
        # c1 at an aerospace plant with an aerospace local (counted once), c3 by its local; not
        # c2, whose union is a local of an aerospace local but has no sector itself.
        ("aerospace", (2, 0, 1), {"DE": 2}),
        ("shipbuilding", (2, 0, 0), {"PL": 1, "US": 1}),  # c5 by its site, c7 by its union
        ("land-systems", (1, 1, 0), {"DE": 1}),
        ("munitions", (0, 0, 0), {}),
    ],
)
def test_it_filters_by_the_sector_of_the_site_or_of_a_union(world, sector, counts, countries):
    report = _report(sector=Sector.objects.get(slug=sector))
    assert _counts(report) == counts
    assert report.as_json()["by_country"] == countries


def test_it_filters_by_topic(world):
    report = _report(topic=Topic.objects.get(slug="welding"))
    assert _counts(report) == (4, 1, 1)
    assert report.as_json()["by_topic"] == {WELDING: 4, SAFETY: 1, QUALITY: 1}
    assert report.as_json()["by_country"] == {"DE": 2, "IE": 1, "GB": 1}
    assert _counts(_report(topic=Topic.objects.get(slug="energetics"))) == (0, 0, 0)


def test_it_filters_by_staff_who_led_or_took_part(world):
    organizer = _report(staff=world.organizer)  # led c6, took part in c1, c2, c5
    assert _counts(organizer) == (4, 0, 0)
    assert organizer.as_json()["by_country"] == {"DE": 2, "IE": 1, "PL": 1}
    assert organizer.followups == {**NO_FOLLOWUPS, "sent": 3, "failed": 2, "overdue": 2}
    assert organizer.median_days_to_followup == 2.0
    manager = _report(staff=world.manager)  # led c3, took part in c1
    assert _counts(manager) == (2, 0, 0)
    assert _counts(_report(staff=world.staffer)) == (7, 1, 2)


@pytest.mark.parametrize(
    ("format_", "counts"),
    [
        (Format.IN_PERSON, (3, 1, 1)),
        (Format.VIDEO, (3, 0, 1)),
        (Format.SITE_VISIT, (1, 0, 0)),
        (Format.CONFERENCE, (1, 0, 0)),
        (Format.PHONE, (1, 0, 0)),
        (Format.EMAIL, (0, 0, 0)),
    ],
)
def test_it_filters_by_format(world, format_, counts):
    assert _counts(_report(format=format_)) == counts


def test_it_combines_filters(world):
    report = _report(country="DE", format=Format.IN_PERSON, staff=world.staffer)
    assert _counts(report) == (2, 1, 1)  # c1, c4; the planned one; the cancelled one in Munich
    assert report.as_json()["by_union"] == {"IG Metall": 1, "IG Metall Munich": 1, "Unite": 1}


# Local dates


def test_it_counts_a_late_evening_meeting_in_the_month_it_was_held(frozen, outreach_staffer):
    warsaw = _consultation(
        starts_at=datetime(2026, 3, 31, 21, 30, tzinfo=UTC), country="PL", lead=outreach_staffer
    )
    new_york = _consultation(
        starts_at=datetime(2026, 5, 1, 3, 30, tzinfo=UTC),
        country="US",
        timezone="America/New_York",
        lead=outreach_staffer,
    )
    # Just past midnight in Warsaw, still 30 April in UTC.
    may_day = _consultation(
        starts_at=datetime(2026, 4, 30, 22, 30, tzinfo=UTC), country="PL", lead=outreach_staffer
    )
    assert warsaw.starts_at.astimezone(ZoneInfo("Europe/Warsaw")) == datetime(
        2026, 3, 31, 23, 30, tzinfo=ZoneInfo("Europe/Warsaw")
    )
    assert (warsaw.held_on, new_york.held_on, may_day.held_on) == (
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 1),
    )
    expected = {"2026-03": 1, "2026-04": 1, "2026-05": 1}
    # Whoever reads it, wherever they are.
    for zone in ("UTC", "Asia/Tokyo", "Pacific/Honolulu"):
        with timezone.override(zone):
            assert _report().as_json()["by_month"] == expected
    assert _counts(_report(date_to=date(2026, 3, 31))) == (1, 0, 0)
    assert _counts(_report(date_from=date(2026, 4, 1), date_to=date(2026, 4, 30))) == (1, 0, 0)


@pytest.mark.parametrize(
    ("zone", "country", "active", "held_on"),
    [
        # 31 January 23:30 UTC: 18:30 in New York, 00:30 in Berlin, 08:30 in Tokyo.
        ("America/New_York", "DE", "UTC", date(2026, 1, 31)),  # the zone recorded wins
        ("", "DE", "UTC", date(2026, 2, 1)),  # else the country's only zone
        ("", "DE", "America/New_York", date(2026, 2, 1)),
        ("Mars/Olympus", "DE", "UTC", date(2026, 2, 1)),  # a zone that is none is ignored
        ("", "US", "Asia/Tokyo", date(2026, 2, 1)),  # several zones: the zone it was typed in
        ("", "US", "UTC", date(2026, 1, 31)),
        ("", "", "Asia/Tokyo", date(2026, 2, 1)),  # no country: the same
        ("", "", "America/New_York", date(2026, 1, 31)),
    ],
)
def test_it_sets_the_local_date_from_the_zone_else_the_country_else_the_active_zone(
    outreach_staffer, zone, country, active, held_on
):
    with timezone.override(active):
        consultation = _consultation(
            starts_at=datetime(2026, 1, 31, 23, 30, tzinfo=UTC),
            timezone=zone,
            country=country,
            lead=outreach_staffer,
        )
    consultation.refresh_from_db()
    assert consultation.held_on == held_on


def test_it_keeps_the_local_date_in_step_when_saving_only_the_start(outreach_staffer):
    consultation = _consultation(
        starts_at=datetime(2026, 3, 10, 12, 0, tzinfo=UTC), country="DE", lead=outreach_staffer
    )
    assert consultation.held_on == date(2026, 3, 10)

    consultation.starts_at = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # 1 April, 00:30 in Berlin
    consultation.save(update_fields=["starts_at"])
    consultation.refresh_from_db()
    assert consultation.held_on == date(2026, 4, 1)
    assert _report().as_json()["by_month"] == {"2026-04": 1}

    consultation.timezone = "America/New_York"  # 31 March, 18:30
    consultation.save(update_fields=["timezone"])
    consultation.refresh_from_db()
    assert consultation.held_on == date(2026, 3, 31)


# Queries


def _more(count: int, *, root: Union, lead: User, helper: User) -> None:
    """`count` held consultations, each with a local and a local of it under `root`, topics,
    concerns, people (shared too), and follow-ups; with planned and cancelled ones."""
    shared = ContactFactory.create()
    site = SiteFactory.create(sector=Sector.objects.get(slug="aerospace"))
    for index in range(count):
        local = UnionFactory.create(kind=Union.Kind.LOCAL, parent=root, country="PL")
        local_of_local = UnionFactory.create(kind=Union.Kind.LOCAL, parent=local, country="FR")
        person = ContactFactory.create()
        consultation = _consultation(
            starts_at=NOW - timedelta(days=index * 7 + 1),
            country=["DE", "PL", "FR", "IE", ""][index % 5],
            lead=lead,
            other_staff=[helper],
            site=site,
            format=Format.VIDEO,
            unions=[local_of_local, UnionFactory.create()],
            topics=["welding", "lean"],
            concerns=["offshoring", "wages"],
            attendees=[shared, person],
        )
        _sent(consultation, timedelta(days=index % 3 + 1), person)
        _followup(consultation, FollowUpStatus.SCHEDULED, NOW - timedelta(hours=1), shared)
        _consultation(
            starts_at=NOW + timedelta(days=index + 1),
            status=[Status.PLANNED, Status.CANCELLED][index % 2],
            lead=lead,
            unions=[local],
        )


def _queries(report: Callable[[], Report]) -> int:
    """The queries `report` runs, without the savepoint the test's own transaction adds."""
    with CaptureQueriesContext(connection) as context:
        report()
    return sum(
        1
        for query in context.captured_queries
        if not query["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    )


def test_it_runs_the_same_number_of_queries_for_ten_times_the_data(
    frozen, outreach_staffer, organizer
):
    root = UnionFactory.create(name="Root Union")
    welding = Topic.objects.get(slug="welding")
    aerospace = Sector.objects.get(slug="aerospace")
    from_totals = [
        ReportFilters(),
        ReportFilters(country="PL"),
        ReportFilters(date_from=date(2026, 1, 1), date_to=date(2026, 6, 30)),
    ]
    from_consultations = [
        ReportFilters(date_from=date(2026, 1, 10), date_to=date(2026, 6, 30)),
        ReportFilters(sector=aerospace, topic=welding, staff=organizer, format=Format.VIDEO),
    ]
    by_union = ReportFilters(union=root)

    totals = []
    for count in (3, 27):  # 3, then 30 consultations
        _more(count, root=root, lead=outreach_staffer, helper=organizer)
        for filters in from_totals:
            assert uses_running_totals(filters)
            assert (
                _queries(partial(consultation_report, filters=filters))
                == TOTALS_REPORT_QUERIES + TUNING_QUERIES
            )
            # The same figures from the consultations themselves, in as many queries as ever.
            assert _queries(partial(base_report, filters)) == REPORT_QUERIES
        for filters in from_consultations:
            assert not uses_running_totals(filters)
            assert (
                _queries(partial(consultation_report, filters=filters))
                == REPORT_QUERIES + TUNING_QUERIES
            )
        assert (
            _queries(partial(consultation_report, filters=by_union))
            == UNION_REPORT_QUERIES + TUNING_QUERIES
        )
        report = consultation_report(filters=ReportFilters())
        assert consultation_report(filters=by_union).total_consultations == (
            report.total_consultations
        )
        totals.append(report.total_consultations)
    assert totals == [3, 30]
