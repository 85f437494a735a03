"""Reads of public comments: the staff queue and the public page (the figures for the managers'
dashboard are in outreach/comment_report.py).

The public page reads only the columns a commenter may see published (never the address, the
moderation or the staff's links): what is not read cannot leak into a template.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django_countries import countries

from crm.models import Contact, Membership, Trade, Union
from crm.selectors import contact_with_email
from outreach.models import PublicComment

Status = PublicComment.Status


@dataclass(frozen=True)
class CommentFilters:
    status: str = ""
    country: str = ""
    union: Union | None = None  # as recognised by staff; takes in its locals
    q: str = ""  # words in the name, address, union as typed or the comment


def _filtered(filters: CommentFilters, *, by_status: bool = True) -> QuerySet[PublicComment]:
    comments = PublicComment.objects.all()
    if by_status and filters.status:
        comments = comments.filter(status=filters.status)
    if filters.country:
        comments = comments.filter(country=filters.country)
    if filters.union is not None:
        comments = comments.filter(Q(union=filters.union) | Q(union__parent=filters.union))
    # Words as typed (icontains folds case, not accents); NUL cannot be sent to PostgreSQL.
    for term in filters.q.replace("\x00", "").split()[:6]:
        comments = comments.filter(
            Q(name__icontains=term)
            | Q(email__icontains=term)
            | Q(union_name__icontains=term)
            | Q(comment__icontains=term)
        )
    return comments


def public_comment_list(*, filters: CommentFilters) -> QuerySet[PublicComment]:
    """The moderation queue, newest first, with what a row shows."""
    return _filtered(filters).select_related("union", "contact").order_by("-received_at", "-id")


def status_counts(comments: QuerySet[PublicComment]) -> dict[str, int]:
    """Comments per status, every status present (one query)."""
    counts = dict(
        comments.order_by()
        .values_list("status")
        .annotate(count=Count("pk"))
        .values_list("status", "count")
    )
    return {status: counts.get(status, 0) for status in Status.values}


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


def public_comment_status_counts(*, filters: CommentFilters) -> list[StatusCount]:
    """How many comments of each status the other filters select, in the statuses' order."""
    counts = status_counts(_filtered(filters, by_status=False))
    return [StatusCount(value, str(label), counts[value]) for value, label in Status.choices]


def public_comment_detail(*, pk: int) -> PublicComment:
    return PublicComment.objects.select_related(
        "union", "contact", "moderated_by", "union__parent"
    ).get(pk=pk)


# The public page


@dataclass(frozen=True)
class PublishedComment:
    """A published comment as the public may see it: no address, no moderation, no links."""

    pk: int
    comment: str
    name: str
    union_name: str
    country: str
    trade: str
    role: str
    language: str
    received_at: datetime

    @property
    def country_name(self) -> str:
        return str(countries.name(self.country)) if self.country else ""

    @property
    def trade_label(self) -> str:
        return str(Trade(self.trade).label) if self.trade in Trade.values else ""

    @property
    def role_label(self) -> str:
        roles = Membership.Role
        return str(roles(self.role).label) if self.role in roles.values else ""


_PUBLIC_COLUMNS = (
    "pk",
    "comment",
    "name",
    "union_name",
    "country",
    "trade",
    "role",
    "language",
    "received_at",
)


def published_comments() -> QuerySet[PublicComment, dict[str, Any]]:
    # Consent is checked again here: the database refuses a published comment without it, and
    # this page must never rely on one safeguard only.
    return (
        PublicComment.objects.filter(status=Status.PUBLISHED, consent_to_publish=True)
        .order_by("-received_at", "-id")
        .values(*_PUBLIC_COLUMNS)
    )


def published_comments_page(*, number: Any) -> Page:
    """One page of the published comments, newest first; any page number gives a page."""
    page = Paginator(published_comments(), settings.CRM_PAGE_SIZE).get_page(number)
    return Page([PublishedComment(**row) for row in page.object_list], page.number, page.paginator)


def contact_with_same_email(*, comment: PublicComment) -> Contact | None:
    """The contact the comment's address belongs to, to suggest linking (when not linked)."""
    if not comment.email or comment.contact_id is not None:
        return None
    return contact_with_email(email=comment.email)
