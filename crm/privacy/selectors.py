"""Reads of accountability and data subject requests: the access log and a person's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django_countries import countries

from crm.models import Contact, Membership
from crm.privacy.models import ContactAccess, ContactErasure, ErasureReview


@dataclass(frozen=True)
class AccessFilters:
    user: Any = None
    contact_id: int | None = None
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def access_log(*, filters: AccessFilters) -> QuerySet[ContactAccess]:
    """The log, newest first, with who and whom joined in (one query per page)."""
    accesses = ContactAccess.objects.select_related("user", "contact")
    if filters.user is not None:
        accesses = accesses.filter(user=filters.user)
    if filters.contact_id is not None:
        accesses = accesses.filter(contact_id=filters.contact_id)
    if filters.action:
        accesses = accesses.filter(action=filters.action)
    if filters.date_from:
        accesses = accesses.filter(at__gte=_day_start(filters.date_from))
    if filters.date_to:
        accesses = accesses.filter(at__lt=_day_start(filters.date_to) + timedelta(days=1))
    return accesses.order_by("-at", "-id")


def contact_accesses(*, contact: Contact, limit: int = 20) -> list[ContactAccess]:
    """Who looked at this record lately (for the record's own page)."""
    return list(
        ContactAccess.objects.filter(contact_id=contact.pk)
        .select_related("user")
        .order_by("-at", "-id")[:limit]
    )


def contact_erasure(*, contact_id: int) -> ContactErasure | None:
    return ContactErasure.objects.select_related("erased_by").filter(contact_id=contact_id).first()


def erasure_list() -> QuerySet[ContactErasure]:
    return ContactErasure.objects.select_related("erased_by").order_by("-erased_at", "-id")


def erasure_reviews_open() -> QuerySet[ErasureReview]:
    return (
        ErasureReview.objects.filter(reviewed_at__isnull=True)
        .select_related("consultation", "erasure")
        .order_by("erasure__erased_at", "id")
    )


def _country(code: Any) -> str:
    return str(countries.name(str(code))) if code else ""


def _plain(value: Any) -> Any:
    # Countries come as objects; JSON and templates want their code.
    return value if value is None or isinstance(value, str | int | bool | date) else str(value)


def _user(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _choice(model: Any, name: str, value: Any) -> Any:
    choices = dict(model._meta.get_field(name).flatchoices)
    return str(choices.get(value, value)) if value not in (None, "") else value


def contact_subject_data(*, contact: Contact) -> dict[str, Any]:
    """Everything the CRM holds about one person, as plain values (for JSON and for print).

    Each section is one query or two, whatever the number of rows.
    """
    from outreach.models import Attendance, FollowUp, PublicComment

    contact = (
        Contact.objects.select_related(
            "employer", "site", "site__employer", "preferred_language", "created_by", "updated_by"
        )
        .prefetch_related("languages", "tags")
        .get(pk=contact.pk)
    )
    return {
        "generated_at": timezone.now(),
        "profile": _profile(contact),
        "consent": {
            "email_consent": _choice(Contact, "email_consent", contact.email_consent),
            "email_consent_at": contact.email_consent_at,
            "email_consent_source": _choice(
                Contact, "email_consent_source", contact.email_consent_source
            ),
            "do_not_contact": contact.do_not_contact,
        },
        "memberships": [
            {
                "union": str(membership.union),
                "role": membership.get_role_display(),
                "since": membership.start_date,
                "until": membership.end_date,
            }
            for membership in Membership.objects.filter(contact=contact)
            .select_related("union")
            .order_by("start_date", "id")
        ],
        "consultations": [
            {
                "title": attendance.consultation.title,
                "starts_at": attendance.consultation.starts_at,
                "status": attendance.consultation.get_status_display(),
                "format": attendance.consultation.get_format_display(),
                "city": attendance.consultation.city,
                "country": _country(attendance.consultation.country),
                "role": attendance.get_role_display(),
                "summary": attendance.consultation.summary,
                "outcomes": attendance.consultation.outcomes,
                "commitments": attendance.consultation.commitments,
            }
            for attendance in Attendance.objects.filter(contact=contact)
            .select_related("consultation")
            .order_by("consultation__starts_at", "id")
        ],
        "followups": [
            {
                "status": followup.get_status_display(),
                "template": followup.template.name if followup.template else None,
                "consultation": followup.consultation.title if followup.consultation else None,
                "subject": followup.subject,
                "body": followup.body,
                "send_at": followup.send_at,
                "sent_at": followup.sent_at,
                "sent_language": followup.sent_language,
                "sent_subject": followup.sent_subject,
                "sent_body": followup.sent_body,
            }
            for followup in FollowUp.objects.filter(contact=contact)
            .select_related("template", "consultation")
            .order_by("send_at", "id")
        ],
        "public_comments": [
            {
                "received_at": comment.received_at,
                "comment": comment.comment,
                "name": comment.name,
                "email": comment.email,
                "union": comment.union_name,
                "country": _country(comment.country),
                "trade": comment.get_trade_display(),
                "role": comment.get_role_display(),
                "language": comment.language,
                "status": comment.get_status_display(),
                "published_at": comment.published_at,
                "consent_question": comment.consent_question,
                "consent_to_publish": comment.consent_to_publish,
                "updates_question": comment.updates_question,
                "updates_opt_in": comment.updates_opt_in,
            }
            for comment in PublicComment.objects.filter(contact=contact).order_by("received_at")
        ],
        "history": _history(contact),
        "access_log": [
            {
                "at": access.at,
                "by": _user(access.user),
                "action": access.get_action_display(),
                "source": access.source,
            }
            for access in ContactAccess.objects.filter(contact_id=contact.pk)
            .select_related("user")
            .order_by("at", "id")
        ],
    }


def _profile(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.pk,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": contact.phone,
        "country": _country(contact.country),
        "employer": contact.employer.name if contact.employer else None,
        "site": str(contact.site) if contact.site else None,
        "trade": contact.get_trade_display(),
        "languages": [str(language) for language in contact.languages.all()],
        "preferred_language": str(contact.preferred_language or "") or None,
        "timezone": contact.timezone,
        "tags": [tag.name for tag in contact.tags.all()],
        "notes": contact.notes,
        "created_at": contact.created_at,
        "created_by": _user(contact.created_by),
        "updated_at": contact.updated_at,
        "updated_by": _user(contact.updated_by),
    }


HISTORY_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "country",
    "trade",
    "timezone",
    "notes",
    "email_consent",
    "email_consent_at",
    "email_consent_source",
    "do_not_contact",
)


def _history(contact: Contact) -> list[dict[str, Any]]:
    """Every stored version of the record and of its memberships, as stored."""
    kinds = {"+": "created", "~": "changed", "-": "deleted"}
    versions = [
        {
            "record": "contact",
            "at": version.history_date,
            "by": _user(version.history_user),
            "change": kinds.get(version.history_type, version.history_type),
            "values": {name: _plain(getattr(version, name)) for name in HISTORY_FIELDS},
        }
        for version in contact.history.select_related("history_user").order_by(
            "history_date", "history_id"
        )
    ]
    memberships = Membership.history.filter(contact_id=contact.pk).select_related(
        "history_user", "union"
    )
    versions += [
        {
            "record": "membership",
            "at": version.history_date,
            "by": _user(version.history_user),
            "change": kinds.get(version.history_type, version.history_type),
            "values": {
                "union": str(version.union) if version.union_id else None,
                "role": version.role,
                "since": version.start_date,
                "until": version.end_date,
            },
        }
        for version in memberships.order_by("history_date", "history_id")
    ]
    return sorted(versions, key=lambda version: version["at"])
