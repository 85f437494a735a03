"""Writes of the outreach app: logging, editing and deleting consultations."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from crm.models import Contact, Membership, Union
from crm.services import contact_create, save_validated
from outreach.models import Attendance, Consultation, EmailTemplate, FollowUp
from outreach.services.followups import consultation_followups_schedule

CONSULTATION_FIELDS = (
    "title",
    "starts_at",
    "format",
    "status",
    "city",
    "country",
    "site",
    "interpreter_present",
    "position",
    "summary",
    "outcomes",
    "commitments",
)
_NULLABLE = {"site", "starts_at"}


@dataclass(frozen=True)
class FollowUpRequest:
    """Send `template` to everyone who attended, on `day` at `time_of_day` in their own zone."""

    template: EmailTemplate
    day: date
    time_of_day: time


@dataclass(frozen=True)
class NewAttendee:
    """A person met for the first time, recorded as a contact with the consultation."""

    first_name: str
    last_name: str
    email: str = ""
    union: Union | None = None
    role: str = Attendance.Role.PARTICIPANT


@transaction.atomic
def consultation_create(
    *, data: Mapping[str, Any], by: Any, submission_key: uuid.UUID | None = None
) -> Consultation:
    """Log a consultation. The same `submission_key` twice (a double click, a resent form) gives
    back the consultation of the first submission and changes nothing."""
    if submission_key is not None:
        existing = Consultation.objects.filter(submission_key=submission_key).first()
        if existing is not None:
            return existing
    consultation = Consultation(
        submission_key=submission_key, lead=data.get("lead") or by, created_by=by
    )
    try:
        with transaction.atomic():
            return _consultation_apply(consultation=consultation, data=data, by=by)
    except IntegrityError:
        # The other submission of the same form won the race on the unique key.
        if submission_key is not None:
            existing = Consultation.objects.filter(submission_key=submission_key).first()
            if existing is not None:
                return existing
        raise


@transaction.atomic
def consultation_update(
    *, consultation: Consultation, data: Mapping[str, Any], by: Any
) -> Consultation:
    if data.get("lead") is not None:
        consultation.lead = data["lead"]
    return _consultation_apply(consultation=consultation, data=data, by=by)


@transaction.atomic
def consultation_delete(*, consultation: Consultation, by: Any) -> None:
    """Delete; its history stays, with a last version saying who deleted it. Its follow-ups not
    sent yet are cancelled: they would speak of a meeting that is no longer on record."""
    FollowUp.objects.filter(
        consultation=consultation, status__in=[FollowUp.Status.SCHEDULED, FollowUp.Status.QUEUED]
    ).update(status=FollowUp.Status.CANCELLED)
    consultation._history_user = by  # type: ignore[attr-defined]
    consultation.delete()


def _consultation_apply(
    *, consultation: Consultation, data: Mapping[str, Any], by: Any
) -> Consultation:
    for name in CONSULTATION_FIELDS:
        if name in data:
            value = data[name]
            setattr(consultation, name, value if value is not None or name in _NULLABLE else "")
    unions: list[Union] = list(data.get("unions") or [])
    attendees: list[tuple[Contact, str]] = list(data.get("attendees") or [])
    new_attendees: Sequence[NewAttendee] = data.get("new_attendees") or []
    if not (unions or attendees or new_attendees):
        message = _("Add at least one union or one person who attended.")
        raise ValidationError({"unions": message, "attendees": message})
    if not consultation.title:
        consultation.title = _default_title(consultation, unions, attendees, new_attendees)
    consultation.updated_by = by
    consultation._history_user = by  # type: ignore[attr-defined]
    # The submission key is unique by design; a clash means the same form came twice, which
    # consultation_create answers with the first consultation, not with an error.
    save_validated(consultation, exclude=["submission_key"])

    for person in new_attendees:
        contact = contact_create(
            data={
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": person.email,
                "country": consultation.country,
                "union": person.union,
                "union_role": Membership.Role.MEMBER,
            },
            by=by,
        )
        attendees.append((contact, person.role))
    consultation.unions.set(unions)
    _attendees_set(consultation, attendees)
    for name in ("other_staff", "languages", "topics", "concerns"):
        if name in data:
            getattr(consultation, name).set(data[name] or [])
    request: FollowUpRequest | None = data.get("follow_up")
    # Who got a follow-up and who was skipped (and why), for the page that confirms the save.
    consultation.followup_report = (  # type: ignore[attr-defined]
        consultation_followups_schedule(
            consultation=consultation,
            owner=by,
            template=request.template,
            day=request.day,
            time_of_day=request.time_of_day,
            contacts=[contact for contact, _role in attendees],
        )
        if request is not None
        else None
    )
    return consultation


def _attendees_set(consultation: Consultation, attendees: list[tuple[Contact, str]]) -> None:
    """Through the many-to-many manager, so that history records who attended in what role."""
    wanted = {contact.pk: (contact, role) for contact, role in attendees}
    current = dict(
        Attendance.objects.filter(consultation=consultation).values_list("contact_id", "role")
    )
    stale = [pk for pk, role in current.items() if wanted.get(pk, (None, None))[1] != role]
    if stale:
        consultation.attendees.remove(*stale)
    by_role: dict[str, list[Contact]] = {}
    for pk, (contact, role) in wanted.items():
        if current.get(pk) != role:
            by_role.setdefault(role, []).append(contact)
    for role, contacts in by_role.items():
        consultation.attendees.add(*contacts, through_defaults={"role": role})


def _default_title(
    consultation: Consultation,
    unions: list[Union],
    attendees: list[tuple[Contact, str]],
    new_attendees: Sequence[NewAttendee],
) -> str:
    if unions:
        who = ", ".join(union.short_name for union in unions[:2])
    elif attendees:
        who = attendees[0][0].full_name
    else:
        who = f"{new_attendees[0].first_name} {new_attendees[0].last_name}".strip()
    return f"{consultation.get_format_display()} – {who}"[:200]
