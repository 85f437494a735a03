"""The consultation report at volume: `outreach.reports.consultation_report` over
BENCH_REPORT_CONSULTATIONS consultations (default 1,000,000, with three attendees each: 3,000,000
attendance rows) made by `outreach.volume.volume_seed`, for all of them and for one country; and
the dashboard page, when the URL `reports:dashboard` exists.

The baseline, measured in the same run, computes the same figures the way a first version would:
the ORM selects the rows and Python loops count them in dicts. Its figures must equal ours, or the
benchmark fails: the comparison is between two ways of getting one answer.

The issue's target: the dashboard's server time under 500 ms on PostgreSQL, with a number of
queries that does not grow with the data (counted here on the empty database and at volume).
Times are milliseconds, lower is better: a ratio below 1 means faster than the baseline.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from bench.common import Row

CONSULTATIONS = int(os.environ.get("BENCH_REPORT_CONSULTATIONS", "1000000"))
RUNS = int(os.environ.get("BENCH_REPORT_RUNS", "3"))  # timed runs of ours, after one warm-up
BASELINE_RUNS = int(os.environ.get("BENCH_REPORT_BASELINE_RUNS", "1"))
COUNTRY = os.environ.get("BENCH_REPORT_COUNTRY", "DE")
TARGET_MS = 500
T = TypeVar("T")


def _phase(message: str) -> None:
    print(f"[bench reports] {message}", file=sys.stderr, flush=True)


def _timed(function: Callable[[], T], runs: int, *, warm_up: bool) -> tuple[float, int, T]:
    """Median milliseconds of `runs` calls (after one untimed call when `warm_up`), the number of
    queries of one call, and its result."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if warm_up:
        function()
    times = []
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    count = len(queries)
    for _run in range(runs - 1):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, count, result


@dataclass
class NaiveReport:
    """The figures of outreach.reports.Report, keyed by id or code rather than by label."""

    statuses: Counter[str] = field(default_factory=Counter)
    unique_contacts: int = 0
    by_month: Counter[str] = field(default_factory=Counter)
    by_country: Counter[str] = field(default_factory=Counter)
    positions: Counter[str] = field(default_factory=Counter)
    by_union: Counter[int] = field(default_factory=Counter)
    by_topic: Counter[str] = field(default_factory=Counter)  # by slug
    concerns: Counter[str] = field(default_factory=Counter)  # every concern, by slug
    followups: Counter[str] = field(default_factory=Counter)
    median_days_to_followup: float | None = None
    nato_consulted: list[str] = field(default_factory=list)


def naive_report(country: str = "") -> NaiveReport:
    """The report's figures by Python loops over the ORM's rows, with the report's counting rules
    (see outreach/reports.py): held consultations only, by their local date; follow-ups of those."""
    from django.utils import timezone

    from crm.nato import member_codes
    from outreach.models import Attendance, Concern, Consultation, FollowUp, Topic
    from outreach.reports import OVERDUE_AFTER

    report = NaiveReport()
    consultations = Consultation.objects.order_by()
    if country:
        consultations = consultations.filter(country=country)
    held = consultations.filter(status=Consultation.Status.HELD)
    rows = consultations.values_list("status", "held_on", "country", "position")
    for kind, held_on, code, position in rows.iterator(chunk_size=10_000):
        report.statuses[kind] += 1
        if kind == Consultation.Status.HELD:
            report.by_month[f"{held_on:%Y-%m}"] += 1
            report.positions[position] += 1
            if code:
                report.by_country[str(code)] += 1
    report.nato_consulted = sorted(member_codes() & set(report.by_country))

    contacts = set()
    for (contact,) in (
        Attendance.objects.filter(consultation__in=held)
        .order_by()
        .values_list("contact_id")
        .iterator(chunk_size=10_000)
    ):
        contacts.add(contact)
    report.unique_contacts = len(contacts)

    for (union,) in (
        Consultation.unions.through.objects.filter(consultation__in=held)
        .values_list("union_id")
        .iterator(chunk_size=10_000)
    ):
        report.by_union[union] += 1

    for model, through, name, counts in (
        (Topic, Consultation.topics.through, "topic_id", report.by_topic),
        (Concern, Consultation.concerns.through, "concern_id", report.concerns),
    ):
        slugs = dict(model.objects.values_list("pk", "slug"))
        for (pk,) in (
            through.objects.filter(consultation__in=held)
            .values_list(name)
            .iterator(chunk_size=10_000)
        ):
            counts[slugs[pk]] += 1

    status = FollowUp.Status
    pending = {status.SCHEDULED, status.QUEUED, status.SENDING}
    late = timezone.now() - OVERDUE_AFTER
    first_sent: dict[int, Any] = {}
    starts: dict[int, Any] = {}
    for consultation, state, send_at, sent_at, starts_at in (
        FollowUp.objects.filter(consultation__in=held)
        .order_by()
        .values_list("consultation_id", "status", "send_at", "sent_at", "consultation__starts_at")
        .iterator(chunk_size=10_000)
    ):
        if state in pending:
            report.followups["scheduled" if send_at >= late else "overdue"] += 1
        elif state in {status.FAILED, status.UNKNOWN}:
            report.followups["failed"] += 1
        else:
            report.followups[str(state)] += 1
        if (
            state == status.SENT
            and sent_at is not None
            and (consultation not in first_sent or sent_at < first_sent[consultation])
        ):
            first_sent[consultation] = sent_at
            starts[consultation] = starts_at
    delays = [(sent - starts[pk]).total_seconds() for pk, sent in first_sent.items()]
    if delays:
        report.median_days_to_followup = round(statistics.median(delays) / 86400, 1)
    return report


def _check(ours: Any, naive: NaiveReport) -> None:
    """Fail the benchmark if the two reports disagree on any figure."""
    from outreach.reports import FOLLOWUP_KEYS, TOP_CONCERNS

    ours_followups = {key: n for key, n in ours.followups.items() if n}
    naive_followups = {key: n for key, n in naive.followups.items() if key in FOLLOWUP_KEYS}
    # A follow-up due within the seconds between the two runs may be "scheduled" in one and
    # "overdue" in the other: compare those two as one.
    for counts in (ours_followups, naive_followups):
        counts["pending"] = counts.pop("scheduled", 0) + counts.pop("overdue", 0)
    top = sorted(naive.concerns.values(), reverse=True)[:TOP_CONCERNS]
    pairs = {
        "held": (ours.total_consultations, naive.statuses["held"]),
        "planned": (ours.planned, naive.statuses["planned"]),
        "cancelled": (ours.cancelled, naive.statuses["cancelled"]),
        "unique contacts": (ours.unique_contacts_reached, naive.unique_contacts),
        "by month": ({t.key: t.count for t in ours.by_month}, dict(naive.by_month)),
        "by country": ({t.key: t.count for t in ours.by_country}, dict(naive.by_country)),
        "positions": (
            {t.key: t.count for t in ours.positions if t.count},
            dict(naive.positions),
        ),
        "by union": ({int(t.key): t.count for t in ours.by_union}, dict(naive.by_union)),
        "by topic": ({t.key: t.count for t in ours.by_topic}, dict(naive.by_topic)),
        "top concerns": (
            [(t.count, naive.concerns[t.key]) for t in ours.top_concerns],
            [(n, n) for n in top],
        ),
        "follow-ups": (ours_followups, naive_followups),
        "NATO coverage": (ours.nato_consulted, naive.nato_consulted),
    }
    wrong = [name for name, (left, right) in pairs.items() if left != right]
    if ours.median_days_to_followup is None or naive.median_days_to_followup is None:
        if ours.median_days_to_followup != naive.median_days_to_followup:
            wrong.append("median days to follow-up")
    elif abs(ours.median_days_to_followup - naive.median_days_to_followup) > 0.1:
        wrong.append("median days to follow-up")
    if wrong:
        details = "; ".join(f"{name}: ours {pairs[name][0]!r:.300} naive {pairs[name][1]!r:.300}"
                            for name in wrong if name in pairs)  # fmt: skip
        raise RuntimeError(f"the report and the baseline disagree on {', '.join(wrong)}: {details}")


def _dashboard_url() -> str | None:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("reports:dashboard")
    except NoReverseMatch:
        return None


def _dashboard(url: str, runs: int, *, warm_up: bool) -> tuple[float, int]:
    """Median server time (ms) and queries of GET `url` for a manager, through the whole Django
    stack (middleware, view, template) but no network. Its cache is emptied before every request,
    so that each one computes the report."""
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.cache import cache
    from django.test import Client
    from django.test.utils import override_settings

    from crm import roles

    # A manager, who reads the dashboard: a superuser would first be asked for an authenticator.
    user, _new = User.objects.get_or_create(username="bench-reports")
    user.groups.add(Group.objects.get(name=roles.MANAGER))
    client = Client()
    client.force_login(user)

    def get() -> None:
        cache.clear()
        response = client.get(url, secure=True)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")

    # A cache of this process only: the shared Redis is left alone, and emptied freely. Static
    # files unhashed, as in the tests: the bench does not run collectstatic.
    with override_settings(
        ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    ):
        elapsed, queries, _result = _timed(get, runs, warm_up=warm_up)
    return elapsed, queries


def run(folder: Path) -> list[Row]:
    from django.db import connection

    from crm.demo import SeedReport, seed_unions
    from outreach.reports import ReportFilters, consultation_report
    from outreach.volume import volume_seed

    # Before the data is made: a URLconf that does not import fails the run at once.
    url = _dashboard_url()
    with connection.cursor() as cursor:
        # The import benchmark, run before in the same database, leaves a million contacts: the
        # report's scenario is a campaign of 100,000 people (volume_seed makes them).
        cursor.execute("TRUNCATE crm_contact, crm_historicalcontact CASCADE")
    seed_unions(SeedReport())
    every, one = ReportFilters(), ReportFilters(country=COUNTRY)
    # The number of queries with no consultations yet, to compare with the count at volume.
    _ms, empty_queries, _report = _timed(
        partial(consultation_report, filters=every), 1, warm_up=False
    )
    empty_page_queries = 0
    if url is not None:
        _ms, empty_page_queries = _dashboard(url, 1, warm_up=True)

    start = time.perf_counter()
    volume = volume_seed(consultations=CONSULTATIONS)
    made = time.perf_counter() - start
    _phase(f"volume_seed: {volume} in {made:.1f} s")
    start = time.perf_counter()
    # What autovacuum does to a table that has been written: done now, so that it does not run
    # in the middle of a measurement.
    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM (ANALYZE) outreach_consultation, outreach_consultation_unions, "
            "outreach_consultation_topics, outreach_consultation_concerns, outreach_attendance, "
            "outreach_followup, crm_contact, crm_union"
        )
    _phase(f"VACUUM (ANALYZE) in {time.perf_counter() - start:.1f} s")

    rows: list[Row] = []
    data = (
        f"{volume.consultations:,} consultations, {volume.attendances:,} attendances, "
        f"{volume.contacts:,} contacts"
    )
    note = (
        f"ms (lower is better; target {TARGET_MS} ms for the dashboard). Ours: median of {RUNS} "
        "runs after a warm-up; baseline: the same figures counted by Python loops over the ORM, "
        f"{BASELINE_RUNS} run(s), checked equal to ours"
    )
    baselines: dict[str, float] = {}
    for label, filters, country in (("all", every, ""), (f"country {COUNTRY}", one, COUNTRY)):
        start = time.perf_counter()
        ours, queries, report = _timed(
            partial(consultation_report, filters=filters), RUNS, warm_up=True
        )
        _phase(f"ours, {label}: {ours:,.1f} ms, {queries} queries "
               f"(phase {time.perf_counter() - start:.1f} s)")  # fmt: skip
        start = time.perf_counter()
        naive, naive_queries, naive_figures = _timed(
            partial(naive_report, country), BASELINE_RUNS, warm_up=False
        )
        _phase(f"baseline, {label}: {naive:,.1f} ms, {naive_queries} queries "
               f"(phase {time.perf_counter() - start:.1f} s)")  # fmt: skip
        _check(report, naive_figures)
        baselines[label] = naive
        rows.append(
            Row(
                f"consultation report, {label}",
                f"{data}; {report.total_consultations:,} held in the report; {queries} queries "
                f"({empty_queries} with no consultations; baseline {naive_queries})",
                ours,
                naive,
                note,
            )
        )

    if url is None:
        _phase("no URL named reports:dashboard yet: the page is not measured")
    else:
        start = time.perf_counter()
        page, page_queries = _dashboard(url, RUNS, warm_up=True)
        _phase(f"dashboard {url}: {page:,.1f} ms, {page_queries} queries "
               f"(phase {time.perf_counter() - start:.1f} s)")  # fmt: skip
        rows.append(
            Row(
                "dashboard server time",
                f"{data}; GET {url} as a manager, no filter; {page_queries} queries "
                f"({empty_page_queries} with no consultations)",
                page,
                baselines["all"],
                f"ms (lower is better; target {TARGET_MS} ms). Django's test client through every "
                f"middleware, an empty cache each time, median of {RUNS} after a warm-up; "
                "baseline: the naive report for all consultations, as above",
            )
        )
    return rows
