"""Writes of public comments: taking one from the public form, and moderating it.

Each moderation step locks the comment and reads it again first, so that two staff members
acting at once see each other's decision (one hides it, the other cannot publish it a second
later from a stale page without the rules being checked again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.importing.headers import split_full_name
from crm.models import Consent, ConsentSource, Contact, Language, Membership, Union, normalize_email
from crm.selectors import contact_with_email
from crm.services import contact_create, contact_email_opt_in
from outreach.models import PublicComment

logger = logging.getLogger(__name__)
Status = PublicComment.Status

# What the public form may set; everything else (status, links, moderation) is staff's.
SUBMITTED_FIELDS = (
    "comment",
    "name",
    "email",
    "union_name",
    "country",
    "trade",
    "role",
    "language",
    "consent_to_publish",
    "updates_opt_in",
)


@transaction.atomic
def public_comment_submit(
    *,
    data: Mapping[str, Any],
    consent_question: str,
    updates_question: str,
    spam: bool = False,
    submission_key: str | None = None,
) -> PublicComment:
    """Store a comment from the public form, with the two questions exactly as they were shown
    and the answers given; or ValidationError (empty or too long, opt-in without an address).

    Asking for e-mail updates creates or updates the person's contact (matched by address, in
    any case) with a consent from the public form, and links the comment to it; a comment
    without that opt-in creates no contact. A comment caught by the spam trap (`spam`) is kept
    for staff to look at, but its opt-in is not acted on. The same `submission_key` twice gives
    back the first comment and stores nothing.
    """
    if submission_key is not None:
        existing = PublicComment.objects.filter(submission_key=submission_key).first()
        if existing is not None:
            return existing
    comment = PublicComment(
        consent_question=consent_question,
        updates_question=updates_question,
        status=Status.SPAM if spam else Status.NEW,
        submission_key=submission_key,
    )
    for field in SUBMITTED_FIELDS:
        if data.get(field) is not None:
            setattr(comment, field, data[field])
    comment.name = " ".join(comment.name.split())
    comment.email = normalize_email(comment.email)
    comment.full_clean(exclude=["submission_key"])
    try:
        with transaction.atomic():
            comment.save()
    except IntegrityError:
        # The other copy of the same submission won the race on the key.
        existing = PublicComment.objects.filter(submission_key=submission_key).first()
        if submission_key is None or existing is None:
            raise
        return existing
    if comment.updates_opt_in and not spam:
        comment.contact = _updates_opt_in(comment)
        if comment.contact is not None:
            comment.save(update_fields=["contact"])
    return comment


def _contact_data(comment: PublicComment) -> dict[str, Any]:
    first_name, last_name = split_full_name(comment.name)
    if not (first_name or last_name):
        # Someone who gave only an address is filed under it, for staff to name.
        last_name = comment.email.partition("@")[0]
    return {
        "first_name": first_name,
        "last_name": last_name,
        "email": comment.email,
        "country": comment.country,
        "trade": comment.trade,
        "preferred_language": Language.objects.filter(code=comment.language).first(),
        "union": comment.union,
        "union_role": comment.role or Membership.Role.MEMBER,
    }


def _opt_in(comment: PublicComment) -> dict[str, Any]:
    """The person's e-mail opt-in, as given on the form: question, answer and time."""
    return {
        "email_consent": Consent.GRANTED,
        "email_consent_source": ConsentSource.PUBLIC_FORM,
        "email_consent_question": comment.updates_question,
        "email_consent_at": comment.received_at,
    }


def _updates_opt_in(comment: PublicComment) -> Contact | None:
    """The contact now holding the person's consent, or None when none could be recorded: the
    comment is kept all the same, and staff can create the contact from it."""
    failure: ValidationError | None = None
    # Twice: a second comment from the same address may create the contact meanwhile.
    for _attempt in range(2):
        try:
            with transaction.atomic():
                contact = contact_with_email(email=comment.email)
                if contact is not None:
                    return contact_email_opt_in(
                        contact=contact,
                        source=ConsentSource.PUBLIC_FORM,
                        question=comment.updates_question,
                        at=comment.received_at,
                    )
                return contact_create(data={**_contact_data(comment), **_opt_in(comment)}, by=None)
        except ValidationError as error:
            failure = error
    logger.warning(
        "public comment %s: e-mail opt-in not recorded: %s",
        comment.pk,
        _error_codes(failure) if failure else "",
    )
    return None


def _error_codes(error: ValidationError) -> str:
    """Which fields failed and why, as codes: the messages may quote what the person typed."""
    fields = error.error_dict if hasattr(error, "error_dict") else {"": error.error_list}
    return "; ".join(
        f"{field or 'contact'}: {','.join(item.code or 'invalid' for item in items)}"
        for field, items in fields.items()
    )


def _lock(comment: PublicComment) -> None:
    comment.refresh_from_db(from_queryset=PublicComment.objects.select_for_update())


def _record(comment: PublicComment, *, by: Any, note: str | None, fields: list[str]) -> None:
    comment.moderated_by = by
    comment.moderated_at = timezone.now()
    fields = [*fields, "moderated_by", "moderated_at"]
    if note is not None:
        comment.moderation_note = note
        fields.append("moderation_note")
    comment.save(update_fields=fields)


def _set_status(comment: PublicComment, status: str, *, by: Any, note: str | None) -> None:
    fields = ["status"]
    if status == Status.PUBLISHED and comment.status != Status.PUBLISHED:
        comment.published_at = timezone.now()
        fields.append("published_at")
    comment.status = status
    _record(comment, by=by, note=note, fields=fields)


@transaction.atomic
def public_comment_review(
    *, comment: PublicComment, by: Any, note: str | None = None
) -> PublicComment:
    """Read and kept, not (or not yet) published. Also how a comment comes back from spam."""
    _lock(comment)
    if comment.status == Status.PUBLISHED:
        raise ValidationError(_("This comment is published: hide it to take it off the page."))
    _set_status(comment, Status.REVIEWED, by=by, note=note)
    return comment


@transaction.atomic
def public_comment_mark_spam(
    *, comment: PublicComment, by: Any, note: str | None = None
) -> PublicComment:
    _lock(comment)
    _set_status(comment, Status.SPAM, by=by, note=note)
    return comment


@transaction.atomic
def public_comment_publish(
    *, comment: PublicComment, by: Any, note: str | None = None
) -> PublicComment:
    """Show the comment on the public page; refused (ValidationError) unless the person agreed."""
    _lock(comment)
    if not comment.consent_to_publish:
        raise ValidationError(
            _("This comment cannot be published: the person did not agree to it being posted."),
            code="no_consent",
        )
    if comment.status == Status.SPAM:
        raise ValidationError(
            _("This comment is marked as spam: mark it reviewed before publishing it."),
            code="spam",
        )
    _set_status(comment, Status.PUBLISHED, by=by, note=note)
    return comment


@transaction.atomic
def public_comment_hide(
    *, comment: PublicComment, by: Any, note: str | None = None
) -> PublicComment:
    """Keep the comment but never show it (taken off the public page if it was published)."""
    _lock(comment)
    _set_status(comment, Status.HIDDEN, by=by, note=note)
    return comment


@transaction.atomic
def public_comment_link_contact(
    *, comment: PublicComment, contact: Contact | None, by: Any
) -> PublicComment:
    """Say who wrote the comment (None: not known after all)."""
    _lock(comment)
    comment.contact = contact
    _record(comment, by=by, note=None, fields=["contact"])
    return comment


@transaction.atomic
def public_comment_set_union(
    *, comment: PublicComment, union: Union | None, by: Any
) -> PublicComment:
    """The union the comment speaks for, as staff recognise it in what the person typed."""
    _lock(comment)
    comment.union = union
    _record(comment, by=by, note=None, fields=["union"])
    return comment


@transaction.atomic
def public_comment_create_contact(*, comment: PublicComment, by: Any) -> Contact:
    """A new contact from the comment's name, address, country, trade and union (with the
    role given), linked to it. Its e-mail consent is the person's opt-in, if they gave one."""
    _lock(comment)
    if comment.contact_id is not None:
        raise ValidationError(_("This comment is linked to a contact already."))
    if not (comment.name or comment.email):
        raise ValidationError(
            _("This comment has neither a name nor an e-mail address to make a contact of.")
        )
    existing = contact_with_email(email=comment.email)
    if existing is not None:
        raise ValidationError(
            _("%(name)s has this e-mail address already: link the comment to them instead.")
            % {"name": existing.full_name}
        )
    data = _contact_data(comment)
    if comment.updates_opt_in:
        data |= _opt_in(comment)
    contact = contact_create(data=data, by=by)
    comment.contact = contact
    _record(comment, by=by, note=None, fields=["contact"])
    return contact
