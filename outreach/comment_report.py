"""The public comments' figures for the managers' dashboard: `comment_report(filters=...)`.

It takes the dashboard's own filters (outreach.reports.ReportFilters) and gives its rows as the
dashboard's Tally, so that the comments sit beside the consultations' tables. outreach.reports is
imported where it is used, not above: the report may import this module in turn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.db.models import Count, Min, QuerySet
from django.db.models.functions import Lower, Trim
from django.utils.translation import gettext as _
from django_countries import countries

from outreach.comment_selectors import status_counts
from outreach.models import PublicComment
from outreach.selectors import day_start

if TYPE_CHECKING:
    from outreach.reports import ReportFilters, Tally

Status = PublicComment.Status


@dataclass
class CommentReport:
    """Counting rules:
    - spam is not a comment: it is counted apart and nowhere else;
    - `total` is every other comment received in the period (new, reviewed, published, hidden);
    - published share = published ÷ total; consented share = those whose author agreed to
      publication ÷ total (so published ÷ consented says how much of what may be shown is);
    - by union: the union staff recognised, else the union as typed (same spelling ignoring case
      and spaces around it counted together), else "not given".
    """

    total: int = 0
    published: int = 0
    consented: int = 0
    spam: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_country: list[Tally] = field(default_factory=list)
    by_union: list[Tally] = field(default_factory=list)

    @property
    def published_share(self) -> float | None:
        return self.published / self.total if self.total else None

    @property
    def consented_share(self) -> float | None:
        return self.consented / self.total if self.total else None

    @property
    def published_of_consented(self) -> float | None:
        return self.published / self.consented if self.consented else None


def _report_comments(filters: ReportFilters) -> QuerySet[PublicComment]:
    comments = PublicComment.objects.order_by()
    if filters.date_from and (start := day_start(filters.date_from)) is not None:
        comments = comments.filter(received_at__gte=start)
    if (
        filters.date_to
        and filters.date_to < date.max
        and (end := day_start(filters.date_to + timedelta(days=1)))
    ):
        comments = comments.filter(received_at__lt=end)
    if filters.country:
        comments = comments.filter(country=filters.country)
    if filters.union is not None:
        from outreach.reports import union_family_ids

        comments = comments.filter(union_id__in=union_family_ids(filters.union))
    return comments


def _sorted(tallies: Iterable[Tally]) -> list[Tally]:
    return sorted(tallies, key=lambda tally: (-tally.count, tally.label.casefold()))


def comment_report(*, filters: ReportFilters) -> CommentReport:
    """Public comments received in the dashboard's period, country and union (its other filters,
    sector, topic, staff and format, describe consultations and do not apply). Three queries
    (four with a union)."""
    from outreach.reports import Tally

    comments = _report_comments(filters)
    report = CommentReport()
    report.by_status = status_counts(comments)
    report.spam = report.by_status[Status.SPAM]
    report.total = sum(report.by_status.values()) - report.spam
    report.published = report.by_status[Status.PUBLISHED]
    kept = comments.exclude(status=Status.SPAM)

    report.consented = 0
    by_country: dict[str, int] = {}
    for country, consented, count in kept.values_list("country", "consent_to_publish").annotate(
        count=Count("pk")
    ):
        by_country[country] = by_country.get(country, 0) + count
        report.consented += count if consented else 0
    report.by_country = _sorted(
        Tally(
            key=code,
            label=str(countries.name(code)) if code else _("Not given"),
            count=count,
        )
        for code, count in by_country.items()
    )

    rows = (
        kept.annotate(typed=Lower(Trim("union_name")))
        .values("union_id", "union__name", "union__acronym", "typed")
        .annotate(count=Count("pk"), spelling=Min(Trim("union_name")))
    )
    by_union: dict[str, Tally] = {}
    for row in rows:
        if row["union_id"] is not None:
            key = f"union:{row['union_id']}"
            label = row["union__acronym"] or row["union__name"]
        elif row["typed"]:
            key, label = f"typed:{row['typed']}", row["spelling"]
        else:
            key, label = "none", _("Not given")
        previous = by_union.get(key)
        count = row["count"] + (previous.count if previous else 0)
        by_union[key] = Tally(key=key, label=label, count=count)
    report.by_union = _sorted(by_union.values())
    return report
