"""The public comments' figures for the managers' dashboard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from outreach.comment_report import comment_report
from outreach.models import PublicComment
from outreach.reports import ReportFilters
from tests.factories import PublicCommentFactory, UnionFactory

pytestmark = pytest.mark.django_db
Status = PublicComment.Status


def test_it_counts_comments_by_country_and_union_and_the_published_share():
    ig_metall = UnionFactory.create(name="IG Metall", acronym="IGM")
    PublicCommentFactory.create(country="DE", union=ig_metall, status=Status.PUBLISHED)
    PublicCommentFactory.create(country="DE", union=ig_metall, consent_to_publish=False)
    PublicCommentFactory.create(country="FR", union=None, union_name=" FO Métaux ")
    PublicCommentFactory.create(country="FR", union=None, union_name="fo métaux")
    PublicCommentFactory.create(country="", union=None, union_name="", consent_to_publish=False)
    PublicCommentFactory.create(country="DE", status=Status.SPAM)  # not a comment

    report = comment_report(filters=ReportFilters())

    assert report.total == 5
    assert report.spam == 1
    assert report.published == 1
    assert report.consented == 3
    assert report.published_share == pytest.approx(1 / 5)
    assert report.consented_share == pytest.approx(3 / 5)
    assert report.published_of_consented == pytest.approx(1 / 3)
    assert [(t.key, t.label, t.count) for t in report.by_country] == [
        ("FR", "France", 2),
        ("DE", "Germany", 2),
        ("", "Not given", 1),
    ]
    assert [(t.label, t.count) for t in report.by_union] == [
        ("FO Métaux", 2),
        ("IGM", 2),
        ("Not given", 1),
    ]
    assert report.by_status == {
        "new": 4,
        "reviewed": 0,
        "published": 1,
        "hidden": 0,
        "spam": 1,
    }


def test_it_has_no_shares_without_comments():
    report = comment_report(filters=ReportFilters())
    assert report.total == 0
    assert report.published_share is None
    assert report.consented_share is None
    assert report.by_country == report.by_union == []


def test_it_filters_the_report_by_local_days_country_and_union_family(settings):
    settings.TIME_ZONE = "Europe/Warsaw"
    union = UnionFactory.create()
    local = UnionFactory.create(kind="local", parent=union)
    # Summer time in Warsaw (UTC+2) since 29 March.
    with time_machine.travel(datetime(2026, 3, 31, 22, 30, tzinfo=UTC)):  # 1 April, 00:30
        april = PublicCommentFactory.create(country="PL", union=local)
    with time_machine.travel(datetime(2026, 3, 31, 22, 0, tzinfo=UTC) - timedelta(minutes=1)):
        PublicCommentFactory.create(country="PL", union=local)  # 31 March, 23:59
    PublicCommentFactory.create(country="DE", union=local, received_at=april.received_at)
    timezone.activate("Europe/Warsaw")
    try:
        report = comment_report(
            filters=ReportFilters(
                date_from=date(2026, 4, 1), date_to=date(2026, 4, 30), country="PL", union=union
            )
        )
    finally:
        timezone.deactivate()
    assert report.total == 1
    assert [(t.key, t.count) for t in report.by_union] == [(f"union:{local.pk}", 1)]


def test_it_reads_the_report_in_a_constant_number_of_queries(django_assert_num_queries):
    for country in ("DE", "FR", "PL", "IT"):
        PublicCommentFactory.create_batch(3, country=country, union=UnionFactory.create())
    with django_assert_num_queries(3):
        comment_report(filters=ReportFilters(country="DE"))
