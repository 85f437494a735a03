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
from outreach.models import Attendance, Consultation, FollowUp


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


def day_start(day: date) -> datetime | None:
    """Midnight of `day` in the reader's time zone; None past the calendar's end (9999-12-31)."""
    try:
        return timezone.make_aware(datetime.combine(day, time.min)).astimezone(UTC)
    except OverflowError:
        return None


def consultation_list(*, filters: ConsultationFilters) -> QuerySet[Consultation]:
    consultations = Consultation.objects.select_related("lead")
    if filters.date_from and (start := day_start(filters.date_from)) is not None:
        consultations = consultations.filter(starts_at__gte=start)
    if (
        filters.date_to
        and filters.date_to < date.max
        and (end := day_start(filters.date_to + timedelta(days=1)))
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
    return with_list_details(consultations)


def with_list_details(consultations: QuerySet[Consultation]) -> QuerySet[Consultation]:
    """What a list or an export row shows: the lead, the number of people, unions and topics."""
    attendee_count = (
        Attendance.objects.filter(consultation=OuterRef("pk"))
        .values("consultation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        consultations.select_related("lead")
        .annotate(attendee_count=Coalesce(Subquery(attendee_count), 0))
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
    kind: str  # "consultation", "followup" or "change"
    consultation: Consultation | None = None
    followup: FollowUp | None = None
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
        TimelineItem(when=followup.sent_at or followup.send_at, kind="followup", followup=followup)
        for followup in contact_followups(contact=contact, limit=limit)
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


@dataclass
class FollowUpSection:
    key: str
    title: str
    followups: list[FollowUp]


OVERDUE_AFTER = timedelta(minutes=10)
SECTION_LIMIT = 100


def my_followups(*, owner: Any | None) -> list[FollowUpSection]:
    """Follow-ups by what needs attention: overdue, due today, upcoming, failed, needs review,
    recently sent. `owner` None means everyone's (for those allowed)."""
    from django.utils.translation import gettext as _

    now = timezone.now()
    local_midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    end_of_today = local_midnight + timedelta(days=1)
    followups = FollowUp.objects.select_related("contact", "consultation", "owner", "template")
    if owner is not None:
        followups = followups.filter(owner=owner)
    pending = [FollowUp.Status.SCHEDULED, FollowUp.Status.QUEUED, FollowUp.Status.SENDING]
    sections = [
        (
            "overdue",
            _("Overdue"),
            followups.filter(status__in=pending, send_at__lt=now - OVERDUE_AFTER),
        ),
        (
            "today",
            _("Due today"),
            followups.filter(
                status__in=pending, send_at__gte=now - OVERDUE_AFTER, send_at__lt=end_of_today
            ),
        ),
        (
            "upcoming",
            _("Upcoming"),
            followups.filter(status__in=pending, send_at__gte=end_of_today),
        ),
        (
            "failed",
            _("Failed"),
            followups.filter(status=FollowUp.Status.FAILED).order_by("-send_at"),
        ),
        (
            "review",
            _("Needs review"),
            followups.filter(status=FollowUp.Status.UNKNOWN).order_by("-send_at"),
        ),
        (
            "sent",
            _("Sent in the last 7 days"),
            followups.filter(
                status=FollowUp.Status.SENT, sent_at__gte=now - timedelta(days=7)
            ).order_by("-sent_at"),
        ),
    ]
    return [
        FollowUpSection(key, str(title), list(rows[:SECTION_LIMIT]))
        for key, title, rows in sections
    ]


def contact_followups(*, contact: Contact, limit: int = 30) -> list[FollowUp]:
    return list(
        FollowUp.objects.filter(contact=contact)
        .select_related("owner", "template", "consultation")
        .order_by("-send_at", "-id")[:limit]
    )


def consultation_followups(*, consultation: Consultation) -> list[FollowUp]:
    return list(
        FollowUp.objects.filter(consultation=consultation)
        .select_related("contact", "owner", "template", "consultation")
        .order_by("send_at", "id")
    )


def consultation_rows(*, consultations: QuerySet[Consultation]) -> Any:
    """Consultations as the consultation importer's columns (CONSULTATION_COLUMNS), the date in
    the country's time zone as the importer reads it back (UTC where there are several)."""
    from zoneinfo import ZoneInfo

    from crm.timezones import default_timezone

    consultations = consultations.select_related("lead").prefetch_related(
        "unions",
        "topics",
        "concerns",
        Prefetch("attendances", queryset=Attendance.objects.select_related("contact")),
    )
    for consultation in consultations.order_by("starts_at", "pk").iterator(chunk_size=500):
        zone = ZoneInfo(default_timezone(str(consultation.country)) or "UTC")
        people = [
            f"{a.contact.full_name} <{a.contact.email}>" if a.contact.email else a.contact.full_name
            for a in consultation.attendances.all()
        ]
        yield [
            consultation.starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            consultation.title,
            consultation.format,
            consultation.status,
            str(consultation.country),
            consultation.city,
            "; ".join(union.name for union in consultation.unions.all()),
            "; ".join(people),
            "; ".join(topic.slug for topic in consultation.topics.all()),
            "; ".join(concern.slug for concern in consultation.concerns.all()),
            consultation.position,
            consultation.summary,
            consultation.lead.get_username(),
        ]
