"""Writes of accountability and data subject requests: the access log, the subject export and
erasure. Views, commands and exports call these; nothing else writes the log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.importing.models import ImportJob
from crm.models import Consent, Contact, Membership, contact_search_text
from crm.privacy import scrub
from crm.privacy.models import ContactAccess, ContactErasure, ErasureReview
from crm.privacy.selectors import contact_subject_data

log = logging.getLogger(__name__)
Action = ContactAccess.Action
CONSULTATION_TEXT_FIELDS = ("title", "summary", "outcomes", "commitments")


def _actor(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def contact_access_record(*, contact: Contact, by: Any, action: str, source: str) -> ContactAccess:
    """One person's record read (viewed, handed to them, erased) by `by`."""
    return ContactAccess.objects.create(
        contact_id=contact.pk, user=_actor(by), action=action, source=source[:300]
    )


def contacts_access_record(
    *, contacts: QuerySet[Contact], by: Any, action: str = Action.EXPORTED, source: str
) -> int:
    """One row per contact of `contacts` (an export's own query), in one INSERT … SELECT.

    An export may hold a hundred thousand people: the rows are written by the database from
    the same filter, never fetched into Python. Returns the number of rows written.
    """
    ids = contacts.order_by().annotate(chosen_id=F("pk")).values("chosen_id").distinct()
    ids_sql, ids_params = ids.query.sql_with_params()
    table = connection.ops.quote_name(ContactAccess._meta.db_table)
    user = _actor(by)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (contact_id, user_id, at, action, source, count) "  # noqa: S608
            f"SELECT chosen.chosen_id, %s, %s, %s, %s, count(*) OVER () FROM ({ids_sql}) AS chosen",
            [user.pk if user else None, timezone.now(), action, source[:300], *ids_params],
        )
        return max(cursor.rowcount, 0)


@transaction.atomic
def contact_subject_export(*, contact: Contact, by: Any, source: str) -> dict[str, Any]:
    """Everything held about a person, for them; the export itself is logged first, so that it
    appears in what it hands over."""
    contact_access_record(contact=contact, by=by, action=Action.SUBJECT_EXPORT, source=source)
    return contact_subject_data(contact=contact)


def erasure_confirmation_ok(*, contact: Contact, typed: str) -> bool:
    """The administrator typed the person's name, or ERASE."""
    typed = " ".join(typed.split())
    return typed == "ERASE" or (
        bool(typed) and typed.casefold() == " ".join(contact.full_name.split()).casefold()
    )


def erased_placeholder(contact_id: int) -> str:
    # In the site's language, not the administrator's: it is stored and everyone reads it.
    with translation.override(settings.LANGUAGE_CODE):
        return _("Erased contact #%(id)s") % {"id": contact_id}


@transaction.atomic
def contact_erase(*, contact: Contact, by: Any, reason: str, confirmation: str) -> ContactErasure:
    """Remove a person from the CRM, keeping their place in the figures.

    The contact row stays (attendances point at it, so that report totals do not change) under
    a neutral name; everything that says who they were is removed or replaced, everywhere the
    CRM keeps it: the record and its history, memberships, follow-ups and their e-mails, the
    notes of consultations (replaced, and flagged for review), public comments, import previews
    and files, the admin's log and the file log of sent mail. A tombstone says it was done.
    """
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    if ContactErasure.objects.filter(contact_id=contact.pk).exists():
        raise ValidationError(_("This person has been erased already."))
    if not erasure_confirmation_ok(contact=contact, typed=confirmation):
        raise ValidationError(
            {"confirmation": _("Type the person's full name, or ERASE, to confirm.")}
        )
    identifiers = _identifiers(contact)
    # Read before the record is emptied: a spreadsheet row holds first and last name apart.
    names = _name_cells(contact)
    placeholder = identifiers.placeholder
    erasure = ContactErasure.objects.create(
        contact_id=contact.pk,
        erased_by=_actor(by),
        reason=scrub.scrub_text(reason.strip(), identifiers.pattern(linked=True), placeholder),
    )
    _anonymise_contact(contact, placeholder)
    Membership.objects.filter(contact=contact).delete()
    _followups_scrub(contact, identifiers)
    _consultations_scrub(contact, identifiers, erasure)
    _comments_scrub(contact, identifiers)
    _digests_scrub(identifiers)
    _imports_scrub(identifiers)
    _admin_log_scrub(contact, identifiers)
    # Last: every step above may have written versions (memberships deleted, tags cleared).
    _history_purge(contact)
    contact_access_record(
        contact=contact, by=by, action=Action.ERASED, source=f"erasure #{erasure.pk}"
    )
    # Files are not part of the transaction: changed only once the database is.
    folders = (
        Path(settings.IMPORT_DIR),
        Path(str(settings.EMAIL_FILE_PATH)) if _mail_to_files() else None,
    )
    transaction.on_commit(lambda: _files_scrub(identifiers, names, folders))
    return erasure


def _identifiers(contact: Contact) -> scrub.Identifiers:
    """The person's names, addresses and numbers: now, in every earlier version of the record,
    and as they gave them on the public form."""
    identifiers = scrub.Identifiers(placeholder=erased_placeholder(contact.pk))
    versions = contact.history.values_list("first_name", "last_name", "email", "phone")
    for first, last, email, phone in {
        (contact.first_name, contact.last_name, contact.email, contact.phone),
        *versions,
    }:
        identifiers.add_person(first, last, email, phone)
    from outreach.models import PublicComment

    for name, email in PublicComment.objects.filter(contact=contact).values_list("name", "email"):
        if " " in name.strip():
            identifiers.strong.add(" ".join(name.split()))
        if email:
            identifiers.strong.add(email)
    return identifiers


def _name_cells(contact: Contact) -> set[str]:
    first, last = contact.first_name.strip(), contact.last_name.strip()
    if not (first and last):
        return set()
    return {" ".join(first.split()).casefold(), " ".join(last.split()).casefold()}


def _anonymise_contact(contact: Contact, placeholder: str) -> None:
    # An UPDATE, not save(): a save would write one more version of the record to history.
    Contact.objects.filter(pk=contact.pk).update(
        first_name="",
        last_name=placeholder,
        email="",
        phone="",
        country="",
        employer=None,
        site=None,
        trade="",
        preferred_language=None,
        timezone="",
        notes="",
        email_consent=Consent.WITHDRAWN,
        email_consent_at=None,
        email_consent_source="",
        # Nothing may be sent to a placeholder, whatever is still on its way.
        do_not_contact=True,
        search_text=contact_search_text("", placeholder, ""),
        updated_at=timezone.now(),
    )
    contact.languages.clear()
    contact.tags.clear()


def _matching(queryset: QuerySet[Any], fields: tuple[str, ...], lookups: list[str]) -> QuerySet:
    query = Q()
    for name in fields:
        for word in lookups:
            query |= Q(**{f"{name}__icontains": word})
    return queryset.filter(query) if lookups else queryset.none()


def _rewrite(rows: QuerySet[Any], fields: tuple[str, ...], pattern: Any, placeholder: str) -> list:
    """Scrub `fields` of each row with a plain UPDATE (no save(), no signals, no history); the
    rows and the fields that changed."""
    changed = []
    for row in rows:
        values = {
            name: scrub.scrub_text(getattr(row, name), pattern, placeholder) for name in fields
        }
        values = {name: value for name, value in values.items() if value != getattr(row, name)}
        if values:
            type(row)._default_manager.filter(pk=row.pk).update(**values)
            changed.append((row, sorted(values)))
    return changed


def _followups_scrub(contact: Contact, identifiers: scrub.Identifiers) -> None:
    from outreach.models import FollowUp

    pending = [FollowUp.Status.SCHEDULED, FollowUp.Status.QUEUED]
    followups = FollowUp.objects.filter(contact=contact)
    followups.filter(status__in=pending).update(
        status=FollowUp.Status.CANCELLED, last_error=_("Cancelled: the person was erased.")
    )
    # What was written to them, as sent, is theirs: gone. Subjects stay (a follow-up needs one
    # unless it has a template), without their name.
    followups.update(body="", sent_body="")
    _rewrite(
        followups,
        ("subject", "sent_subject", "last_error"),
        identifiers.pattern(linked=True),
        identifiers.placeholder,
    )


def _consultations_scrub(
    contact: Contact, identifiers: scrub.Identifiers, erasure: ContactErasure
) -> None:
    from outreach.models import Consultation

    placeholder = identifiers.placeholder
    # Where they were: their surname alone is them too. Elsewhere only what names them fully.
    attended = Consultation.objects.filter(attendances__contact=contact)
    elsewhere = _matching(
        Consultation.objects.exclude(attendances__contact=contact),
        CONSULTATION_TEXT_FIELDS,
        identifiers.lookups(),
    )
    changed = _rewrite(
        _matching(attended, CONSULTATION_TEXT_FIELDS, identifiers.lookups(linked=True)),
        CONSULTATION_TEXT_FIELDS,
        identifiers.pattern(linked=True),
        placeholder,
    ) + _rewrite(
        elsewhere, CONSULTATION_TEXT_FIELDS, identifiers.pattern(linked=False), placeholder
    )
    ErasureReview.objects.bulk_create(
        ErasureReview(erasure=erasure, consultation=consultation, fields=fields)
        for consultation, fields in changed
    )
    history = Consultation.history.model
    attended_ids = attended.values("pk")
    _rewrite(
        _matching(
            history.objects.filter(id__in=attended_ids),
            CONSULTATION_TEXT_FIELDS,
            identifiers.lookups(linked=True),
        ),
        CONSULTATION_TEXT_FIELDS,
        identifiers.pattern(linked=True),
        placeholder,
    )
    _rewrite(
        _matching(
            history.objects.exclude(id__in=attended_ids),
            CONSULTATION_TEXT_FIELDS,
            identifiers.lookups(),
        ),
        CONSULTATION_TEXT_FIELDS,
        identifiers.pattern(linked=False),
        placeholder,
    )


def _comments_scrub(contact: Contact, identifiers: scrub.Identifiers) -> None:
    from outreach.models import PublicComment

    emails = [word for word in identifiers.strong if "@" in word]
    email_match = Q()
    for email in emails:
        email_match |= Q(email__iexact=email)
    # Their ids first: once the addresses are cleared, the filter would no longer find them.
    ids = list(
        PublicComment.objects.filter(Q(contact=contact) | email_match).values_list("pk", flat=True)
    )
    theirs = PublicComment.objects.filter(pk__in=ids)
    # The comment stays (it was counted, perhaps published), without who wrote it.
    theirs.update(name="", email="")
    _rewrite(
        theirs,
        ("comment", "union_name", "moderation_note"),
        identifiers.pattern(linked=True),
        identifiers.placeholder,
    )
    others = _matching(
        PublicComment.objects.exclude(pk__in=ids),
        ("comment", "name", "moderation_note"),
        identifiers.lookups(),
    )
    _rewrite(
        others,
        ("comment", "name", "moderation_note"),
        identifiers.pattern(linked=False),
        identifiers.placeholder,
    )


def _digests_scrub(identifiers: scrub.Identifiers) -> None:
    from outreach.models import Digest

    _rewrite(
        _matching(Digest.objects.all(), ("sent_subject", "sent_body"), identifiers.lookups()),
        ("sent_subject", "sent_body", "last_error"),
        identifiers.pattern(linked=False),
        identifiers.placeholder,
    )


def _imports_scrub(identifiers: scrub.Identifiers) -> None:
    """Previews and failures of imports name the rows they read. Few jobs, each read once."""
    pattern = identifiers.pattern(linked=False)
    linked = identifiers.pattern(linked=True)
    placeholder = identifiers.placeholder
    for job in ImportJob.objects.only("pk", "preview", "headers", "failure").iterator():
        values = {
            "preview": scrub.scrub_json(job.preview, pattern, placeholder, linked=linked),
            "headers": scrub.scrub_json(job.headers, pattern, placeholder),
            "failure": scrub.scrub_text(job.failure, pattern, placeholder),
        }
        changed = {name: value for name, value in values.items() if value != getattr(job, name)}
        if changed:
            ImportJob.objects.filter(pk=job.pk).update(**changed)


def _admin_log_scrub(contact: Contact, identifiers: scrub.Identifiers) -> None:
    placeholder = identifiers.placeholder
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Contact), object_id=str(contact.pk)
    ).update(object_repr=placeholder[:200])
    _rewrite(
        _matching(LogEntry.objects.all(), ("object_repr", "change_message"), identifiers.lookups()),
        ("object_repr", "change_message"),
        identifiers.pattern(linked=False),
        placeholder,
    )


def _history_purge(contact: Contact) -> None:
    """Every version of the record and of its memberships: they hold the person's details."""
    contact.history.all().delete()
    Membership.history.filter(contact_id=contact.pk).delete()


def _mail_to_files() -> bool:
    return settings.EMAIL_BACKEND.endswith("filebased.EmailBackend") and bool(
        settings.EMAIL_FILE_PATH
    )


def _files_scrub(
    identifiers: scrub.Identifiers, names: set[str], folders: tuple[Path | None, ...]
) -> None:
    imports, mail = folders
    # The erasure is committed: a folder that cannot be cleaned must not turn it into an error
    # page, but it must be seen, in the error log, with the erasure's contact number.
    try:
        if imports is not None:
            deleted = scrub.import_files_scrub(imports, identifiers, names)
            _import_jobs_forget(imports, deleted)
    except Exception:
        log.exception("erasure of %s: import files not cleaned", identifiers.placeholder)
    try:
        if mail is not None:
            scrub.mail_files_scrub(mail, identifiers)
    except Exception:
        log.exception("erasure of %s: mail log not cleaned", identifiers.placeholder)


def _import_jobs_forget(folder: Path, deleted: list[Path]) -> None:
    """Jobs whose file was deleted no longer point at it; an unfinished one cannot go on."""
    for path in deleted:
        try:
            job_id = int(path.relative_to(folder).parts[0])
        except (ValueError, IndexError):
            continue
        job = ImportJob.objects.filter(pk=job_id).first()
        if job is None:
            continue
        if job.stored_file == path.name:
            unfinished = job.status not in {
                ImportJob.Status.DONE,
                ImportJob.Status.FAILED,
                ImportJob.Status.CANCELLED,
            }
            ImportJob.objects.filter(pk=job_id).update(
                stored_file="",
                **(
                    {
                        "status": ImportJob.Status.CANCELLED,
                        "finished_at": timezone.now(),
                        "failure": _("The file was deleted: it named a person who was erased."),
                    }
                    if unfinished
                    else {}
                ),
            )
        if job.errors_file == path.name:
            ImportJob.objects.filter(pk=job_id).update(errors_file="")


def erasure_review_done(*, review: ErasureReview, by: Any) -> ErasureReview:
    ErasureReview.objects.filter(pk=review.pk, reviewed_at__isnull=True).update(
        reviewed_at=timezone.now(), reviewed_by=_actor(by)
    )
    review.refresh_from_db()
    return review
