"""The consultation report: every figure managers read, computed by SQL aggregates.

`consultation_report` is the one source of the dashboard, its exports, the
`consultation_report` command and the weekly digest, so that they can never disagree. It runs a
fixed number of queries whatever the data or the filter.

Counting rules:
- Only consultations held count; planned and cancelled ones are totalled apart.
- A consultation belongs to the day (and month) where it was held, in its local time zone
  (`Consultation.held_on`): a meeting at 23:30 on 31 March in Warsaw is a March meeting.
- Filtering by a union takes in its locals (and their locals).
- Follow-ups are those of the consultations counted. Pending ones are "scheduled" until they are
  more than OVERDUE_AFTER late, then "overdue"; "failed" includes those whose sending could not be
  confirmed (needs review). The median delay runs from the consultation to its first sent e-mail.
"""

from __future__ import annotations

import calendar
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_countries import countries as country_names

from crm.models import Sector, Union
from crm.nato import member_codes
from outreach.comment_report import CommentReport
from outreach.models import Attendance, Concern, Consultation, FollowUp, Topic
from outreach.selectors import OVERDUE_AFTER, with_list_details

POSITIONS = [value for value, _label in Consultation.Position.choices]
# The command's JSON names the positions as the issue does; conditional support is stored longer.
POSITION_KEYS: dict[str, str] = {Consultation.Position.CONDITIONAL.value: "conditional"}
FOLLOWUP_KEYS = ("scheduled", "sent", "failed", "overdue", "suppressed", "cancelled")
FOLLOWUP_LABELS = {
    "scheduled": gettext_lazy("Scheduled"),
    "sent": gettext_lazy("Sent"),
    "failed": gettext_lazy("Failed or needs review"),
    "overdue": gettext_lazy("Overdue"),
    "suppressed": gettext_lazy("Suppressed (opted out)"),
    "cancelled": gettext_lazy("Cancelled"),
}
TOP_CONCERNS = 10


@dataclass(frozen=True)
class ReportFilters:
    date_from: date | None = None
    date_to: date | None = None
    country: str = ""
    union: Union | None = None
    sector: Sector | None = None
    topic: Topic | None = None
    staff: Any = None  # a user: consultations they led or took part in
    format: str = ""

    def is_empty(self) -> bool:
        return self == ReportFilters()


@dataclass(frozen=True)
class Tally:
    """One row of a table: what is counted, its label, and how many."""

    key: str
    label: str
    count: int


@dataclass
class Report:
    filters: ReportFilters
    total_consultations: int = 0
    planned: int = 0
    cancelled: int = 0
    unique_contacts_reached: int = 0
    by_month: list[Tally] = field(default_factory=list)
    by_country: list[Tally] = field(default_factory=list)
    by_union: list[Tally] = field(default_factory=list)
    by_topic: list[Tally] = field(default_factory=list)
    positions: list[Tally] = field(default_factory=list)
    # country code -> position -> count
    positions_by_country: dict[str, dict[str, int]] = field(default_factory=dict)
    top_concerns: list[Tally] = field(default_factory=list)
    followups: dict[str, int] = field(default_factory=dict)
    median_days_to_followup: float | None = None
    nato_consulted: list[str] = field(default_factory=list)
    nato_not_consulted: list[str] = field(default_factory=list)

    @property
    def unions_engaged(self) -> int:
        return len(self.by_union)

    @property
    def countries_engaged(self) -> int:
        return len(self.by_country)

    @property
    def nato_total(self) -> int:
        return len(self.nato_consulted) + len(self.nato_not_consulted)

    def as_json(self) -> dict[str, Any]:
        """The figures under the keys the `consultation_report --json` contract names."""
        return {
            "total_consultations": self.total_consultations,
            "planned": self.planned,
            "cancelled": self.cancelled,
            "unique_contacts_reached": self.unique_contacts_reached,
            "unions_engaged": self.unions_engaged,
            "countries_engaged": self.countries_engaged,
            "nato_coverage": {
                "consulted": self.nato_consulted,
                "not_consulted": self.nato_not_consulted,
            },
            "by_month": {row.key: row.count for row in self.by_month},
            "by_country": {row.key: row.count for row in self.by_country},
            "by_union": {row.label: row.count for row in self.by_union},
            "by_topic": {row.label: row.count for row in self.by_topic},
            "positions": {POSITION_KEYS.get(row.key, row.key): row.count for row in self.positions},
            "top_concerns": {row.label: row.count for row in self.top_concerns},
            "followups": dict(self.followups),
        }


def union_family_ids(union: Union) -> list[int]:
    """The union and every union under it (its locals, their locals), in one query."""
    children: dict[int, list[int]] = {}
    for pk, parent in Union.objects.filter(parent__isnull=False).values_list("pk", "parent_id"):
        children.setdefault(parent, []).append(pk)
    family, frontier = [union.pk], [union.pk]
    while frontier:
        frontier = [
            child for pk in frontier for child in children.get(pk, []) if child not in family
        ]
        family += frontier
    return family


def _filtered(filters: ReportFilters) -> QuerySet[Consultation]:
    """Consultations of any status that match the filters."""
    consultations = Consultation.objects.all()
    if filters.date_from:
        consultations = consultations.filter(held_on__gte=filters.date_from)
    if filters.date_to:
        consultations = consultations.filter(held_on__lte=filters.date_to)
    if filters.country:
        consultations = consultations.filter(country=filters.country)
    if filters.format:
        consultations = consultations.filter(format=filters.format)
    if filters.union is not None:
        consultations = consultations.filter(
            Exists(
                Consultation.unions.through.objects.filter(
                    consultation=OuterRef("pk"), union_id__in=union_family_ids(filters.union)
                )
            )
        )
    if filters.sector is not None:
        # Held at one of the sector's sites, or with a union organizing in it.
        in_sector = Consultation.unions.through.objects.filter(
            consultation=OuterRef("pk"), union__sectors=filters.sector
        )
        consultations = consultations.filter(Q(site__sector=filters.sector) | Exists(in_sector))
    if filters.topic is not None:
        consultations = consultations.filter(
            Exists(
                Consultation.topics.through.objects.filter(
                    consultation=OuterRef("pk"), topic=filters.topic
                )
            )
        )
    if filters.staff is not None:
        other = Consultation.other_staff.through.objects.filter(
            consultation=OuterRef("pk"), user=filters.staff
        )
        consultations = consultations.filter(Q(lead=filters.staff) | Exists(other))
    return consultations


def held_consultations(filters: ReportFilters) -> QuerySet[Consultation]:
    return _filtered(filters).filter(status=Consultation.Status.HELD)


def report_consultations(*, filters: ReportFilters) -> QuerySet[Consultation]:
    """The consultations the report counts, as the consultation list shows them."""
    return with_list_details(held_consultations(filters))


def _rows(counts: Counter[Any], labels: dict[Any, str], keys: dict[Any, str]) -> list[Tally]:
    """Most first, then by label, so that equal counts always come in the same order."""
    return [
        Tally(key=keys[key], label=labels[key], count=n)
        for key, n in sorted(counts.items(), key=lambda item: (-item[1], labels[item[0]]))
        if n
    ]


def _union_labels(unions: list[dict[str, Any]]) -> dict[int, str]:
    """Names, with the country added where two unions of the report share a name."""
    names = Counter(union["name"] for union in unions)
    return {
        union["pk"]: (
            f"{union['name']} ({union['country']})" if names[union["name"]] > 1 else union["name"]
        )
        for union in unions
    }


def _median_days(held: QuerySet[Consultation]) -> float | None:
    """Median of the delays to the first sent follow-up, each counted in whole hours (as the
    running totals keep them), given in days."""
    first_sent = (
        FollowUp.objects.filter(
            consultation__in=held, status=FollowUp.Status.SENT, sent_at__isnull=False
        )
        .values("consultation")
        .annotate(first=Min("sent_at"))
        .annotate(delay=F("first") - F("consultation__starts_at"))
    )
    if connection.vendor == "postgresql":
        sql, params = first_sent.values("delay").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT percentile_cont(0.5) WITHIN GROUP "  # noqa: S608
                f"(ORDER BY floor(EXTRACT(EPOCH FROM delay) / 3600)) FROM ({sql}) AS delays",
                params,
            )
            hours = cursor.fetchone()[0]
        return None if hours is None else round(float(hours) / 24, 1)
    # SQLite, the embedded mode of a demo: no percentile function, and little data.
    delays = [math.floor(row["delay"].total_seconds() / 3600) for row in first_sent.values("delay")]
    return round(statistics.median(delays) / 24, 1) if delays else None


def _median_of_histogram(counts: dict[int, int]) -> float | None:
    """The median (as percentile_cont computes it) of values given as value -> how many."""
    total = sum(counts.values())
    if total <= 0:
        return None
    ordered = sorted((value, n) for value, n in counts.items() if n > 0)

    def nth(index: int) -> int:  # 0-based
        seen = 0
        for value, n in ordered:
            seen += n
            if index < seen:
                return value
        return ordered[-1][0]

    low, high = nth((total - 1) // 2), nth(total // 2)
    return round((low + high) / 2 / 24, 1)


def consultation_report(*, filters: ReportFilters) -> Report:
    """Every figure of the report for `filters`, in nine queries (ten with a union; one more on
    PostgreSQL to tune the transaction)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # A handful of aggregates over many rows: compiling them (JIT) costs more than it
                # saves, and their hash tables should stay in memory rather than spill to disk.
                cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
            if uses_running_totals(filters):
                return _report_from_counts(filters)
        return _report(filters)


def uses_running_totals(filters: ReportFilters) -> bool:
    """The running totals are kept per country and month: they answer a filter made of those
    alone. Any other filter reads the consultations themselves."""
    return (
        connection.vendor == "postgresql"
        and filters.union is None
        and filters.sector is None
        and filters.topic is None
        and filters.staff is None
        and not filters.format
        and (filters.date_from is None or filters.date_from.day == 1)
        and (
            filters.date_to is None
            or filters.date_to.day
            == calendar.monthrange(filters.date_to.year, filters.date_to.month)[1]
        )
    )


def _report(filters: ReportFilters) -> Report:
    report = Report(filters=filters)
    matching = _filtered(filters)  # once: a union filter reads the union tree
    held = matching.filter(status=Consultation.Status.HELD)

    statuses = dict(matching.order_by().values_list("status").annotate(n=Count("pk")))
    report.total_consultations = statuses.get(Consultation.Status.HELD, 0)
    report.planned = statuses.get(Consultation.Status.PLANNED, 0)
    report.cancelled = statuses.get(Consultation.Status.CANCELLED, 0)

    months = held.order_by().annotate(month=TruncMonth("held_on")).values_list("month")
    report.by_month = [
        Tally(key=f"{month:%Y-%m}", label=f"{month:%Y-%m}", count=n)
        for month, n in sorted(months.annotate(n=Count("pk")))
    ]

    countries: Counter[str] = Counter()
    positions: Counter[str] = Counter()
    for country, position, n in (
        held.order_by().values_list("country", "position").annotate(n=Count("pk"))
    ):
        code = str(country)
        positions[position] += n
        if code:
            countries[code] += n
            report.positions_by_country.setdefault(code, dict.fromkeys(POSITIONS, 0))[position] = n
    _place_countries_and_positions(report, countries, positions)

    through = Consultation.unions.through.objects.filter(consultation__in=held)
    union_counts = list(
        through.values("union_id", "union__name", "union__country").annotate(n=Count("pk"))
    )
    labels = _union_labels(
        [
            {"pk": row["union_id"], "name": row["union__name"], "country": row["union__country"]}
            for row in union_counts
        ]
    )
    report.by_union = _rows(
        Counter({row["union_id"]: row["n"] for row in union_counts}),
        labels,
        {row["union_id"]: str(row["union_id"]) for row in union_counts},
    )

    report.by_topic = _taxonomy_rows(Topic, Consultation.topics.through, "topic", held)
    report.top_concerns = _taxonomy_rows(Concern, Consultation.concerns.through, "concern", held)[
        :TOP_CONCERNS
    ]

    report.unique_contacts_reached = Attendance.objects.filter(consultation__in=held).aggregate(
        n=Count("contact_id", distinct=True)
    )["n"]

    report.followups = _followup_counts(held)
    report.median_days_to_followup = _median_days(held)
    return report


def _counts_where(filters: ReportFilters, *, monthly: bool) -> tuple[str, list[Any]]:
    """Conditions on the running totals. Without a date range, and unless `monthly` rows are
    needed, the all-time rows (month null) answer."""
    conditions: list[str] = []
    params: list[Any] = []
    if filters.date_from or filters.date_to or monthly:
        conditions.append("month IS NOT NULL")
    else:
        conditions.append("month IS NULL")
    if filters.date_from:
        conditions.append("month >= %s")
        params.append(filters.date_from)
    if filters.date_to:
        conditions.append("month <= %s")
        params.append(filters.date_to)
    if filters.country:
        conditions.append("country = %s")
        params.append(filters.country)
    return " AND ".join(conditions), params


def _report_from_counts(filters: ReportFilters) -> Report:
    """The same figures as `_report`, from the running totals (outreach/report_models.py)."""
    report = Report(filters=filters)
    where, params = _counts_where(filters, monthly=False)
    monthly_where, monthly_params = _counts_where(filters, monthly=True)
    by_kind: dict[str, Counter[str]] = {}
    months: Counter[str] = Counter()
    countries: Counter[str] = Counter()
    positions: Counter[str] = Counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, key, sum(n) FROM outreach_reportcount "  # noqa: S608
            f"WHERE {where} AND kind <> 'position' GROUP BY kind, key HAVING sum(n) <> 0",
            params,
        )
        for kind, key, n in cursor.fetchall():
            by_kind.setdefault(kind, Counter())[key] = int(n)
        cursor.execute(
            "SELECT month, country, key, sum(n) FROM outreach_reportcount "  # noqa: S608
            f"WHERE {monthly_where} AND kind = 'position' GROUP BY month, country, key "
            "HAVING sum(n) <> 0",
            monthly_params,
        )
        for month, country, position, total in cursor.fetchall():
            n = int(total)  # sum() of bigint is numeric
            months[f"{month:%Y-%m}"] += n
            positions[position] += n
            if country:
                countries[country] += n
                report.positions_by_country.setdefault(country, dict.fromkeys(POSITIONS, 0))[
                    position
                ] += n
        # People reached in all countries over all time have rows of their own (country '').
        reach_where, reach_params = (
            ("country = '' AND month IS NULL", [])
            if filters.date_from is None and filters.date_to is None and not filters.country
            else (monthly_where, monthly_params)
        )
        cursor.execute(
            "SELECT count(*) FROM (SELECT contact_id FROM outreach_reportreach "  # noqa: S608
            f"WHERE {reach_where} GROUP BY contact_id HAVING sum(n) > 0) AS reached",
            reach_params,
        )
        report.unique_contacts_reached = cursor.fetchone()[0]

    statuses = by_kind.get("status", Counter())
    report.total_consultations = statuses[Consultation.Status.HELD]
    report.planned = statuses[Consultation.Status.PLANNED]
    report.cancelled = statuses[Consultation.Status.CANCELLED]
    report.by_month = [Tally(key=m, label=m, count=n) for m, n in sorted(months.items()) if n]
    _place_countries_and_positions(report, countries, positions)

    union_counts = {int(key): n for key, n in by_kind.get("union", Counter()).items()}
    unions = [
        dict(union)
        for union in Union.objects.filter(pk__in=union_counts).values("pk", "name", "country")
    ]
    report.by_union = _rows(
        Counter(union_counts), _union_labels(unions), {pk: str(pk) for pk in union_counts}
    )
    report.by_topic = _taxonomy_counts(Topic, by_kind.get("topic", Counter()))
    report.top_concerns = _taxonomy_counts(Concern, by_kind.get("concern", Counter()))[
        :TOP_CONCERNS
    ]

    followups = by_kind.get("followup", Counter())
    status = FollowUp.Status
    pending = [status.SCHEDULED, status.QUEUED, status.SENDING]
    overdue = FollowUp.objects.filter(
        consultation__in=held_consultations(filters),
        status__in=pending,
        send_at__lt=timezone.now() - OVERDUE_AFTER,
    ).count()
    report.followups = {
        "scheduled": sum(followups[value] for value in pending) - overdue,
        "sent": followups[status.SENT],
        "failed": followups[status.FAILED] + followups[status.UNKNOWN],
        "overdue": overdue,
        "suppressed": followups[status.SUPPRESSED],
        "cancelled": followups[status.CANCELLED],
    }
    report.median_days_to_followup = _median_of_histogram(
        {int(key): n for key, n in by_kind.get("delay", Counter()).items()}
    )
    return report


def _place_countries_and_positions(
    report: Report, countries: Counter[str], positions: Counter[str]
) -> None:
    report.by_country = _rows(
        countries,
        {code: country_names.name(code) or code for code in countries},
        {code: code for code in countries},
    )
    position_labels = dict(Consultation.Position.choices)
    report.positions = [
        Tally(key=value, label=str(position_labels[value]), count=positions[value])
        for value in POSITIONS
    ]
    members = member_codes()
    report.nato_consulted = sorted(members & set(countries))
    report.nato_not_consulted = sorted(members - set(countries))


def _taxonomy_counts(model: Any, counts: Counter[str]) -> list[Tally]:
    by_pk = {int(key): n for key, n in counts.items()}
    entries = {entry.pk: entry for entry in model.objects.filter(pk__in=by_pk)}
    return _rows(
        Counter({pk: n for pk, n in by_pk.items() if pk in entries}),
        {pk: str(entry) for pk, entry in entries.items()},
        {pk: entry.slug for pk, entry in entries.items()},
    )


def _taxonomy_rows(
    model: Any, through: Any, name: str, held: QuerySet[Consultation]
) -> list[Tally]:
    rows = (
        through.objects.filter(consultation__in=held)
        .order_by()
        .values_list(f"{name}_id", f"{name}__slug", f"{name}__name")
        .annotate(n=Count("pk"))  # a pair is stored once: no DISTINCT needed
    )
    counts: Counter[int] = Counter()
    labels: dict[int, str] = {}
    slugs: dict[int, str] = {}
    for pk, slug, label, n in rows:
        counts[pk] = n
        # str() of an unsaved entry: a seeded name is shown translated, as everywhere else.
        labels[pk] = str(model(slug=slug, name=label))
        slugs[pk] = slug
    return _rows(counts, labels, slugs)


def _followup_counts(held: QuerySet[Consultation]) -> dict[str, int]:
    status = FollowUp.Status
    pending = [status.SCHEDULED, status.QUEUED, status.SENDING]
    late = timezone.now() - OVERDUE_AFTER
    return FollowUp.objects.filter(consultation__in=held).aggregate(
        scheduled=Count("pk", filter=Q(status__in=pending, send_at__gte=late)),
        sent=Count("pk", filter=Q(status=status.SENT)),
        failed=Count("pk", filter=Q(status__in=[status.FAILED, status.UNKNOWN])),
        overdue=Count("pk", filter=Q(status__in=pending, send_at__lt=late)),
        suppressed=Count("pk", filter=Q(status=status.SUPPRESSED)),
        cancelled=Count("pk", filter=Q(status=status.CANCELLED)),
    )


COMMENT_TABLE_KEYS = ("comments", "comments_by_country", "comments_by_union")
TABLE_KEYS = (
    "summary", "months", "countries", "coverage", "unions", "topics", "positions",
    "positions_by_country", "concerns", "followups",
)  # fmt: skip


@dataclass(frozen=True)
class ReportTable:
    """One table of the report as the page shows it and the exports write it."""

    key: str
    title: str
    header: list[str]
    rows: list[list[Any]]


def report_tables(report: Report) -> dict[str, ReportTable]:
    """The report's tables, in page order. Labels are translated for the reader."""
    yes, no = _("yes"), _("no")
    members = member_codes()
    held = report.total_consultations
    tables = [
        ReportTable(
            "summary",
            _("Summary"),
            [_("Figure"), _("Value")],
            [
                [_("Consultations held"), held],
                [_("Planned"), report.planned],
                [_("Cancelled"), report.cancelled],
                [_("Unique contacts reached"), report.unique_contacts_reached],
                [_("Unions engaged"), report.unions_engaged],
                [_("Countries engaged"), report.countries_engaged],
                [
                    _("NATO member states consulted"),
                    f"{len(report.nato_consulted)}/{report.nato_total}",
                ],
                [
                    _("Median days from consultation to first follow-up"),
                    ""
                    if report.median_days_to_followup is None
                    else report.median_days_to_followup,
                ],
            ],
        ),
        ReportTable(
            "months",
            _("Consultations by month"),
            [_("Month"), _("Consultations")],
            [[row.key, row.count] for row in report.by_month],
        ),
        ReportTable(
            "countries",
            _("Consultations by country"),
            [_("Country code"), _("Country"), _("NATO member"), _("Consultations")],
            [
                [row.key, row.label, yes if row.key in members else no, row.count]
                for row in report.by_country
            ],
        ),
        ReportTable(
            "coverage",
            _("NATO member states"),
            [_("Country code"), _("Country"), _("Consulted")],
            [
                [code, country_names.name(code), yes if code in report.nato_consulted else no]
                for code in sorted(members, key=lambda code: str(country_names.name(code)))
            ],
        ),
        ReportTable(
            "unions",
            _("Consultations by union"),
            [_("Union"), _("Consultations")],
            [[row.label, row.count] for row in report.by_union],
        ),
        ReportTable(
            "topics",
            _("Consultations by topic"),
            [_("Topic"), _("Consultations")],
            [[row.label, row.count] for row in report.by_topic],
        ),
        ReportTable(
            "positions",
            _("Positions on the proposal"),
            [_("Position"), _("Consultations"), _("Share (%)")],
            [
                [row.label, row.count, round(100 * row.count / held, 1) if held else 0]
                for row in report.positions
            ],
        ),
        ReportTable(
            "positions_by_country",
            _("Positions by country"),
            [_("Country"), *[row.label for row in report.positions]],
            [
                [
                    row.label,
                    *[
                        report.positions_by_country.get(row.key, {}).get(position, 0)
                        for position in POSITIONS
                    ],
                ]
                for row in report.by_country
            ],
        ),
        ReportTable(
            "concerns",
            _("Top concerns"),
            [_("Concern"), _("Consultations")],
            [[row.label, row.count] for row in report.top_concerns],
        ),
        ReportTable(
            "followups",
            _("Follow-ups"),
            [_("Status"), _("Follow-ups")],
            [[FOLLOWUP_LABELS[key], report.followups.get(key, 0)] for key in FOLLOWUP_KEYS],
        ),
    ]
    assert [table.key for table in tables] == list(TABLE_KEYS)
    return {table.key: table for table in tables}


def _percent(share: float | None) -> str:
    return "" if share is None else f"{100 * share:.1f}"


def comment_tables(comments: CommentReport) -> dict[str, ReportTable]:
    """The public comments' tables (outreach/comment_report.py), as the report's other tables."""
    tables = [
        ReportTable(
            "comments",
            _("Public comments"),
            [_("Figure"), _("Value")],
            [
                [_("Comments received (not spam)"), comments.total],
                [_("Published"), comments.published],
                [_("Published share (%)"), _percent(comments.published_share)],
                [_("Consent to publish given"), comments.consented],
                [_("Consented share (%)"), _percent(comments.consented_share)],
                [_("Spam"), comments.spam],
            ],
        ),
        ReportTable(
            "comments_by_country",
            _("Public comments by country"),
            [_("Country"), _("Comments")],
            [[row.label, row.count] for row in comments.by_country],
        ),
        ReportTable(
            "comments_by_union",
            _("Public comments by union"),
            [_("Union"), _("Comments")],
            [[row.label, row.count] for row in comments.by_union],
        ),
    ]
    return {table.key: table for table in tables}
