"""Writes of the core app. Views, the admin actions, commands and tasks all go through these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from crm.models import (
    Consent,
    ConsentRecord,
    ConsentSource,
    Contact,
    Employer,
    Membership,
    Site,
    StaffProfile,
    Tag,
    Union,
    WorkerHeartbeat,
)
from crm.timezones import is_valid_timezone

User = AbstractBaseUser | AnonymousUser
TAG_MAX_LENGTH = Tag._meta.get_field("name").max_length or 60

CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "country",
    "employer",
    "site",
    "trade",
    "preferred_language",
    "timezone",
    "notes",
    "email_consent",
    "do_not_contact",
)
_NULLABLE = {"employer", "site", "preferred_language"}
UNION_FIELDS = (
    "name",
    "acronym",
    "country",
    "kind",
    "parent",
    "membership_size",
    "website",
    "notes",
)


# What staff ask a person before recording an answer on the contact form (ContactForm shows it).
STAFF_CONSENT_QUESTION = gettext_lazy("Do you agree to receive e-mail from the campaign?")


def _actor(user: User | None) -> Any:
    return user if user is not None and user.is_authenticated else None


def tags_split(text: str) -> list[str]:
    """Tag names as written in "a, b; c", spaces trimmed and folded, the empty ones left out."""
    return [name for raw in text.replace(";", ",").split(",") if (name := " ".join(raw.split()))]


def tags_parse(text: str) -> list[str]:
    """Tag names from "a, b; c": trimmed, de-duplicated case-insensitively, order kept."""
    seen: dict[str, str] = {}
    for name in tags_split(text):
        name = name[:TAG_MAX_LENGTH]
        if name.casefold() not in seen:
            seen[name.casefold()] = name
    return list(seen.values())


def tags_get_or_create(*, names: Iterable[str]) -> list[Tag]:
    """Existing tags matched as the database's unique index sees them; missing ones created.

    The comparison is the database's lower(), not Python's: the two disagree on "ß" and, on
    SQLite, on every non-ASCII letter, and only the index decides what is a duplicate.
    """
    tags: dict[int, Tag] = {}
    for name in names:
        same_name = Tag.objects.alias(key=Lower("name")).filter(key=Lower(Value(name)))
        found: Tag | None = same_name.first()
        if found is None:
            try:
                with transaction.atomic():
                    found = Tag.objects.create(name=name)
            except IntegrityError:
                # Created meanwhile by someone else (or equal to a name earlier in this list).
                found = same_name.get()
        tags[found.pk] = found
    return list(tags.values())


def save_validated(instance: Any, *, exclude: Iterable[str] = ()) -> None:
    """full_clean() then save(); a unique row written meanwhile by another request is reported
    as the same ValidationError full_clean() would have given, not as a server error."""
    instance.full_clean(exclude=list(exclude))
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        instance.validate_constraints()
        raise


def _contact_apply(*, contact: Contact, data: Mapping[str, Any], by: User | None) -> Contact:
    # Read from the database: a bound ModelForm has already copied the new value onto `contact`.
    previous_consent = (
        Contact.objects.filter(pk=contact.pk).values_list("email_consent", flat=True).first()
        if contact.pk
        else None
    )
    for field in CONTACT_FIELDS:
        if field in data:
            setattr(
                contact, field, data[field] if data[field] is not None or field in _NULLABLE else ""
            )
    consent_changed = contact.email_consent != previous_consent and not (
        previous_consent is None and contact.email_consent == Consent.UNKNOWN
    )
    consent_at = data.get("email_consent_at") or timezone.now()
    if consent_changed and contact.email_consent != Consent.UNKNOWN:
        contact.email_consent_at = consent_at
        contact.email_consent_source = data.get("email_consent_source") or ConsentSource.STAFF
    contact.updated_by = _actor(by)
    # simple-history reads this outside a request (commands, tasks); inside one it has the user.
    contact._history_user = _actor(by)  # type: ignore[attr-defined]
    if contact.pk is None:
        contact.created_by = _actor(by)
    save_validated(contact)
    if consent_changed:
        consent_record_add(
            contact=contact,
            question=str(data.get("email_consent_question") or STAFF_CONSENT_QUESTION),
            answer=contact.email_consent,
            source=data.get("email_consent_source") or ConsentSource.STAFF,
            by=by,
            at=consent_at,
        )
    languages = list(data.get("languages") or [])
    if contact.preferred_language is not None and contact.preferred_language not in languages:
        languages.append(contact.preferred_language)
    if "languages" in data or contact.preferred_language is not None:
        contact.languages.set(languages)
    if "tags" in data:
        names = data["tags"] if not isinstance(data["tags"], str) else tags_parse(data["tags"])
        contact.tags.set(tags_get_or_create(names=names))
    return contact


@transaction.atomic
def contact_create(*, data: Mapping[str, Any], by: User | None) -> Contact:
    """Create a contact, and its first membership when `union` is given; or ValidationError."""
    contact = _contact_apply(contact=Contact(), data=data, by=by)
    if data.get("union"):
        membership_add(
            contact=contact,
            union=data["union"],
            role=data.get("union_role") or Membership.Role.MEMBER,
            start_date=data.get("union_since"),
            by=by,
        )
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, data: Mapping[str, Any], by: User | None) -> Contact:
    return _contact_apply(contact=contact, data=data, by=by)


@transaction.atomic
def membership_add(
    *,
    contact: Contact,
    union: Union,
    role: str,
    start_date: date | None = None,
    end_date: date | None = None,
    by: User | None = None,
) -> Membership:
    membership = Membership(
        contact=contact, union=union, role=role, start_date=start_date, end_date=end_date
    )
    save_validated(membership)
    return membership


@transaction.atomic
def membership_end(
    *, membership: Membership, end_date: date | None = None, by: User | None = None
) -> Membership:
    if membership.end_date is not None and membership.end_date <= timezone.localdate():
        raise ValidationError(_("This membership has ended already."))
    membership.end_date = end_date or timezone.localdate()
    save_validated(membership)
    return membership


def _union_apply(*, union: Union, data: Mapping[str, Any], by: User | None) -> Union:
    for field in UNION_FIELDS:
        if field in data:
            value = data[field]
            setattr(
                union,
                field,
                "" if value is None and field not in {"parent", "membership_size"} else value,
            )
    union.updated_by = _actor(by)
    union._history_user = _actor(by)  # type: ignore[attr-defined]
    if union.pk is None:
        union.created_by = _actor(by)
    affiliations = list(data.get("affiliations") or [])
    wrong = [
        other
        for other in affiliations
        if other.kind not in {Union.Kind.GLOBAL_FEDERATION, Union.Kind.NATIONAL_CENTRE}
        or other.pk == union.pk
    ]
    if wrong:
        raise ValidationError(
            {
                "affiliations": _(
                    "A union is affiliated only to global federations and national centres."
                )
            }
        )
    save_validated(union)
    if "affiliations" in data:
        union.affiliations.set(affiliations)
    if "sectors" in data:
        union.sectors.set(data["sectors"] or [])
    if "languages" in data:
        union.languages.set(data["languages"] or [])
    return union


@transaction.atomic
def union_create(*, data: Mapping[str, Any], by: User | None) -> Union:
    return _union_apply(union=Union(), data=data, by=by)


@transaction.atomic
def union_update(*, union: Union, data: Mapping[str, Any], by: User | None) -> Union:
    return _union_apply(union=union, data=data, by=by)


@transaction.atomic
def record_save(*, instance: Employer | Site, by: User | None) -> Employer | Site:
    """Validate and save an employer or a site with who changed it."""
    instance.updated_by = _actor(by)
    instance._history_user = _actor(by)  # type: ignore[union-attr]
    if instance.pk is None:
        instance.created_by = _actor(by)
    save_validated(instance)
    return instance


def consent_record_add(
    *,
    contact: Contact,
    question: str,
    answer: str,
    source: str,
    by: User | None = None,
    import_job: Any = None,
    at: Any = None,
) -> ConsentRecord:
    """Keep an answer about e-mail with the question exactly as it was put to the person."""
    return ConsentRecord.objects.create(
        contact=contact,
        question=question,
        answer=answer,
        source=source,
        recorded_at=at or timezone.now(),
        recorded_by=_actor(by),
        import_job=import_job,
    )


@transaction.atomic
def contact_email_opt_out(*, contact: Contact, source: str, question: str) -> Contact:
    """Record that the person wants no more e-mail. Pending follow-ups are suppressed when due.

    `question` is what the person answered: the page or the e-mail program's button they used.
    Asking again once withdrawn changes nothing and adds no record.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if contact.email_consent != Consent.WITHDRAWN:
        contact.email_consent = Consent.WITHDRAWN
        contact.email_consent_at = timezone.now()
        contact.email_consent_source = source
        contact._history_user = None  # type: ignore[attr-defined]
        contact.save(
            update_fields=[
                "email_consent",
                "email_consent_at",
                "email_consent_source",
                "updated_at",
            ]
        )
        consent_record_add(
            contact=contact, question=question, answer=Consent.WITHDRAWN, source=source
        )
    return contact


@transaction.atomic
def contact_email_opt_in(
    *, contact: Contact, source: str, question: str, at: Any = None
) -> Contact:
    """Record that the person asked, just now, to receive e-mail.

    Unlike an edit (which stamps the consent only when it changes), every opt-in is a new consent
    and is recorded as such, over an earlier one or a withdrawal. "Do not contact" is a staff
    decision and stays as it is.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    contact.email_consent = Consent.GRANTED
    contact.email_consent_at = at or timezone.now()
    contact.email_consent_source = source
    contact._history_user = None  # type: ignore[attr-defined]
    contact.save(
        update_fields=["email_consent", "email_consent_at", "email_consent_source", "updated_at"]
    )
    consent_record_add(
        contact=contact,
        question=question,
        answer=Consent.GRANTED,
        source=source,
        at=contact.email_consent_at,
    )
    return contact


def staff_profile_update(
    *, user: Any, timezone_name: str, weekly_digest: bool | None = None
) -> StaffProfile:
    """Save one's own settings. The weekly report is only for those who may read the reports."""
    if timezone_name and not is_valid_timezone(timezone_name):
        raise ValidationError({"timezone": _("Unknown time zone.")})
    values: dict[str, Any] = {"timezone": timezone_name}
    if weekly_digest is not None:
        if weekly_digest and not user.has_perm("outreach.view_reports"):
            raise ValidationError(
                {"weekly_digest": _("Only those who may read the reports can receive them.")}
            )
        values["weekly_digest"] = weekly_digest
    profile, _created = StaffProfile.objects.update_or_create(user=user, defaults=values)
    return profile


def worker_heartbeat_record(*, worker: str) -> WorkerHeartbeat:
    heartbeat, _created = WorkerHeartbeat.objects.update_or_create(
        worker=worker[:200], defaults={"seen_at": timezone.now()}
    )
    return heartbeat
