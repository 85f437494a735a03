"""Reads of the outreach app: consultation lists, details and the timelines of people and unions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.history import HistoryEntry, history_entries
from crm.models import Contact, Union
from outreach.models import Attendance, Consultation


@dataclass(frozen=True)
class ConsultationFilters:
    date_from: date | None = None
    date_to: date | None = None
    country: str = ""
    union: Union | None = None
    topic: Any = None
    position: str = ""
    staff: Any = None  # a user: consultations they led or took part in
    status: str = ""


def _day_start(day: date) -> datetime | None:
    """Midnight of `day` in the reader's time zone; None past the calendar's end (9999-12-31)."""
    try:
        return timezone.make_aware(datetime.combine(day, time.min)).astimezone(UTC)
    except OverflowError:
        return None


def consultation_list(*, filters: ConsultationFilters) -> QuerySet[Consultation]:
    consultations = Consultation.objects.select_related("lead")
    if filters.date_from and (start := _day_start(filters.date_from)) is not None:
        consultations = consultations.filter(starts_at__gte=start)
    if (
        filters.date_to
        and filters.date_to < date.max
        and (end := _day_start(filters.date_to + timedelta(days=1)))
    ):
        # Up to the end of the last day, in the reader's time zone.
        consultations = consultations.filter(starts_at__lt=end)
    if filters.country:
        consultations = consultations.filter(country=filters.country)
    if filters.union is not None:
        involved = Consultation.unions.through.objects.filter(
            Q(union=filters.union) | Q(union__parent=filters.union), consultation=OuterRef("pk")
        )
        consultations = consultations.filter(Exists(involved))
    if filters.topic is not None:
        consultations = consultations.filter(
            Exists(
                Consultation.topics.through.objects.filter(
                    consultation=OuterRef("pk"), topic=filters.topic
                )
            )
        )
    if filters.position:
        consultations = consultations.filter(position=filters.position)
    if filters.status:
        consultations = consultations.filter(status=filters.status)
    if filters.staff is not None:
        other = Consultation.other_staff.through.objects.filter(
            consultation=OuterRef("pk"), user=filters.staff
        )
        consultations = consultations.filter(Q(lead=filters.staff) | Exists(other))
    attendee_count = (
        Attendance.objects.filter(consultation=OuterRef("pk"))
        .values("consultation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        consultations.annotate(attendee_count=Coalesce(Subquery(attendee_count), 0))
        .prefetch_related("unions", "topics")
        .order_by("-starts_at", "-id")
    )


def consultation_detail(*, pk: int) -> Consultation:
    return (
        Consultation.objects.select_related(
            "lead", "site", "site__employer", "created_by", "updated_by"
        )
        .prefetch_related(
            Prefetch(
                "attendances",
                queryset=Attendance.objects.select_related("contact").order_by(
                    "contact__last_name", "contact__first_name"
                ),
            ),
            "unions",
            "topics",
            "concerns",
            "languages",
            "other_staff",
        )
        .get(pk=pk)
    )


@dataclass
class TimelineItem:
    when: datetime
    kind: str  # "consultation" or "change"
    consultation: Consultation | None = None
    change: HistoryEntry | None = None
    role: str = ""


def _timeline_consultations(queryset: QuerySet[Consultation], limit: int) -> list[Consultation]:
    return list(
        queryset.select_related("lead")
        .prefetch_related("unions", "topics")
        .order_by("-starts_at", "-id")[:limit]
    )


def contact_timeline(*, contact: Contact, limit: int = 30) -> list[TimelineItem]:
    """Consultations the person attended and changes to their record, newest first."""
    attendance = Attendance.objects.filter(consultation=OuterRef("pk"), contact=contact)
    attended = Consultation.objects.filter(Exists(attendance)).annotate(
        attendee_role=Subquery(attendance.values("role")[:1])
    )
    role_labels = dict(Attendance.Role.choices)
    items = [
        TimelineItem(
            when=consultation.starts_at,
            kind="consultation",
            consultation=consultation,
            role=str(role_labels.get(getattr(consultation, "attendee_role", ""), "")),
        )
        for consultation in _timeline_consultations(attended, limit)
    ]
    items += [
        TimelineItem(when=entry.when, kind="change", change=entry)
        for entry in history_entries(obj=contact)
    ]
    return sorted(items, key=lambda item: item.when, reverse=True)[:limit]


def union_timeline(*, union: Union, limit: int = 30) -> list[TimelineItem]:
    """Consultations with the union or one of its locals, and changes to its record."""
    involved = Consultation.objects.filter(
        Exists(
            Consultation.unions.through.objects.filter(
                Q(union=union) | Q(union__parent=union), consultation=OuterRef("pk")
            )
        )
    )
    items = [
        TimelineItem(when=consultation.starts_at, kind="consultation", consultation=consultation)
        for consultation in _timeline_consultations(involved, limit)
    ]
    items += [
        TimelineItem(when=entry.when, kind="change", change=entry)
        for entry in history_entries(obj=union)
    ]
    return sorted(items, key=lambda item: item.when, reverse=True)[:limit]
