"""Writes of the import flow: upload, mapping, preview, import, recovery and clean-up.

`contact_import` is the one implementation every entry point runs (the import pages, the
`import_contacts` command and the admin through ContactResource): one transaction per run, a
dry run being the same run rolled back.
"""

from __future__ import annotations

import csv
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.exports import safe_cell
from crm.importing.contacts import ContactImporter, Summary
from crm.importing.files import Line, Table, UnreadableFileError, read_table
from crm.importing.headers import COLUMNS_BY_KIND, Mapping, detect_mapping, header_key
from crm.importing.models import ImportJob, ImportKind, SavedMapping
from crm.importing.storage import ADMIN_UPLOADS
from crm.logs import exception_outline

log = logging.getLogger(__name__)


def _importer(kind: str) -> type[Any]:
    if kind == ImportKind.UNIONS:
        from crm.importing.unions import UnionImporter

        return UnionImporter
    if kind == ImportKind.CONSULTATIONS:
        # The outreach app's importer: looked up here, not imported at the top, because the
        # core app must not depend on it when it loads.
        from outreach.importing import ConsultationImporter

        return ConsultationImporter
    return ContactImporter


def records_import(
    *,
    kind: str,
    table: Table,
    mapping: Mapping,
    dry_run: bool,
    create_unions: bool = False,
    user_id: int | None = None,
    reason: str = "",
    errors_to: IO[str] | None = None,
    on_rejected: Callable[[Line, str], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    job_id: int | None = None,
    on_done: Callable[[Summary], object] | None = None,
    consent_question: str = "",
) -> Summary:
    """Import the table's rows as records of `kind` (contacts, unions, consultations), in one
    transaction; a dry run is the same run, rolled back. Rejected rows go to `errors_to` as CSV
    with an added `error` column (and to `on_rejected`). UnreadableFileError when a column the
    kind needs is missing.

    With `job_id`, the job's row stays locked until the transaction ends, which is how
    import_jobs_recover tells a live import from a dead one; `on_done` runs in the same
    transaction as the data (a real import's outcome is saved with it, or not at all)."""
    missing = mapping.missing(kind)
    if missing:
        raise UnreadableFileError(
            _("No column holds %(fields)s: map one before importing.")
            % {"fields": _(" or ").join(sorted(missing[0]))}
        )
    if errors_to is not None:
        writer = csv.writer(errors_to)
        writer.writerow([safe_cell(header) for header in table.headers] + ["error"])
        also = on_rejected

        def on_rejected(line: Line, message: str) -> None:
            writer.writerow([safe_cell(cell) for cell in line] + [message])
            if also is not None:
                also(line, message)

    # Only people have consent to give.
    consent: dict[str, Any] = (
        {"consent_question": consent_question, "import_job_id": job_id}
        if kind == ImportKind.CONTACTS
        else {}
    )
    with transaction.atomic():
        if job_id is not None:
            list(ImportJob.objects.select_for_update().filter(pk=job_id).values_list("pk"))
        importer = _importer(kind)(
            headers=table.headers,
            mapping=mapping,
            create_unions=create_unions,
            user_id=user_id,
            reason=reason,
            on_rejected=on_rejected,
            on_progress=on_progress,
            dry_run=dry_run,
            **consent,
        )
        summary: Summary = importer.run(table.rows)
        if dry_run:
            transaction.set_rollback(True)
        elif on_done is not None:
            on_done(summary)
    return summary


def contact_import(
    *,
    table: Table,
    mapping: Mapping,
    dry_run: bool,
    create_unions: bool = False,
    user_id: int | None = None,
    reason: str = "",
    errors_to: IO[str] | None = None,
    on_rejected: Callable[[Line, str], None] | None = None,
    consent_question: str = "",
) -> Summary:
    """records_import of contacts: the one implementation behind the import pages, the
    import_contacts command and the admin's import button."""
    return records_import(
        kind=ImportKind.CONTACTS,
        table=table,
        mapping=mapping,
        dry_run=dry_run,
        create_unions=create_unions,
        user_id=user_id,
        reason=reason,
        errors_to=errors_to,
        on_rejected=on_rejected,
        consent_question=consent_question,
    )


# Who may import what: organizers import contacts and unions; historical consultations are
# written with someone else as their lead, which only those who may edit anyone's may do.
KIND_PERMISSIONS = {
    ImportKind.CONTACTS: ("crm.import_contacts",),
    ImportKind.UNIONS: ("crm.import_contacts", "crm.add_union", "crm.change_union"),
    ImportKind.CONSULTATIONS: (
        "crm.import_contacts",
        "outreach.add_consultation",
        "outreach.change_any_consultation",
    ),
}


def can_import(user: Any, kind: str) -> bool:
    return bool(user.has_perms(KIND_PERMISSIONS[ImportKind(kind)]))


# Jobs ---------------------------------------------------------------------------------------

# Statuses a job's mapping may change in (and a preview start from).
MAPPABLE = (ImportJob.Status.UPLOADED, ImportJob.Status.PREVIEWED, ImportJob.Status.FAILED)


def import_job_record(
    *,
    kind: str,
    table: Table,
    mapping: Mapping,
    file_name: str,
    user: Any,
    source: str,
    dry_run: bool,
    create_unions: bool = False,
    consent_question: str = "",
    errors_to: IO[str] | None = None,
    on_rejected: Callable[[Line, str], None] | None = None,
) -> tuple[ImportJob, Summary]:
    """Run an import in the caller's process (command line, admin) as a job of the import
    history: who, when, which file, the outcome and how long it took."""
    job = ImportJob.objects.create(
        kind=kind,
        source=source,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        file_name=Path(file_name).name[:255],
        headers=table.headers,
        mapping={str(index): name for index, name in mapping.fields.items()},
        create_unions=create_unions,
        consent_question=consent_question.strip(),
        dry_run=dry_run,
        status=ImportJob.Status.RUNNING,
        started_at=timezone.now(),
        attempts=1,
        language=translation.get_language() or "",
    )

    def outcome(summary: Summary) -> dict[str, Any]:
        return {
            "status": ImportJob.Status.PREVIEWED if dry_run else ImportJob.Status.DONE,
            "finished_at": timezone.now(),
            "total_rows": summary.rows,
            "preview": _summary_json(summary),
            **({} if dry_run else dict(summary.counts)),
        }

    try:
        summary = records_import(
            kind=kind,
            table=table,
            mapping=mapping,
            dry_run=dry_run,
            create_unions=create_unions,
            user_id=getattr(user, "pk", None),
            reason=_("Import #%(id)d (%(file)s)") % {"id": job.pk, "file": job.file_name},
            errors_to=errors_to,
            on_rejected=on_rejected,
            on_progress=lambda done: _progress_set(job, done),
            job_id=job.pk,
            on_done=lambda summary: ImportJob.objects.filter(pk=job.pk).update(**outcome(summary)),
            consent_question=job.consent_question,
        )
    except Exception as error:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, finished_at=timezone.now(), failure=str(error)[:2000]
        )
        raise
    if dry_run:
        ImportJob.objects.filter(pk=job.pk).update(**outcome(summary))
    job.refresh_from_db()
    return job, summary


def _folder(job: ImportJob) -> Path:
    return Path(settings.IMPORT_DIR) / str(job.pk)


def too_large_message() -> str:
    return _("The file is larger than %(limit)d MB: split it into smaller files.") % {
        "limit": settings.IMPORT_MAX_BYTES // (1024 * 1024)
    }


def import_job_create(
    *,
    upload: Iterable[bytes],
    file_name: str,
    user: Any,
    source: str = ImportJob.Source.WEB,
    kind: str = ImportKind.CONTACTS,
) -> ImportJob:
    """Store an uploaded file and read its header; ValidationError if it cannot be imported.

    Nothing is kept of a file that cannot be read.
    """
    file_name = Path(file_name).name[:255] or "upload"
    job = ImportJob.objects.create(
        kind=kind,
        source=source,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        file_name=file_name,
        language=translation.get_language() or "",
    )
    folder = _folder(job)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"source{Path(file_name).suffix.lower()}"
    size = 0
    try:
        with path.open("wb") as handle:
            for chunk in upload:
                size += len(chunk)
                if size > settings.IMPORT_MAX_BYTES:
                    raise UnreadableFileError(too_large_message())
                handle.write(chunk)
        table = read_table(path, name=file_name)
        total = sum(1 for _row in table.rows)
        if total == 0:
            raise UnreadableFileError(_("The file has a header row but no data rows."))
        mapping = _remembered_mapping(table.headers, kind) or detect_mapping(table.headers, kind)
        job.stored_file = path.name
        job.file_size = size
        job.total_rows = total
        job.headers = table.headers
        job.mapping = {str(index): name for index, name in mapping.fields.items()}
        job.save()
    except Exception as error:
        # Whatever a hostile or broken file makes the readers raise: nothing of it is kept,
        # and the organizer gets a sentence rather than a server error.
        shutil.rmtree(folder, ignore_errors=True)
        job.delete()
        if isinstance(error, UnreadableFileError):
            raise ValidationError(str(error), code="unreadable") from None
        # Neither the file's name (people name files after people) nor the error's message (a
        # reader may quote the cell it choked on): the file type and the code that gave up.
        log.warning(
            "an upload (%s) could not be read: %s",
            path.suffix or "no extension",
            exception_outline(error),
        )
        raise ValidationError(
            _("The file cannot be read as a spreadsheet (%(error)s).")
            % {"error": type(error).__name__},
            code="unreadable",
        ) from None
    return job


def _remembered_mapping(headers: list[str], kind: str) -> Mapping | None:
    """The newest saved mapping that names every non-empty header of this file, if any."""
    keys = [header_key(header) for header in headers]
    for saved in SavedMapping.objects.filter(kind=kind).order_by("-created_at")[:50]:
        if all(key in saved.columns for key in keys if key):
            fields = {
                index: saved.columns[key]
                for index, key in enumerate(keys)
                if saved.columns.get(key)
            }
            return Mapping(fields=fields, unmatched=[])
    return None


def job_mapping(job: ImportJob) -> Mapping:
    return Mapping(fields={int(index): name for index, name in job.mapping.items()}, unmatched=[])


def import_job_map(
    *,
    job: ImportJob,
    fields: dict[int, str],
    create_unions: bool,
    consent_question: str = "",
    save_as: str = "",
    user: Any = None,
) -> ImportJob:
    """Set which column is which field (column index -> field; unmapped columns are ignored),
    and start the preview with it."""
    chosen = {index: name for index, name in fields.items() if name}
    unknown = set(chosen.values()) - set(COLUMNS_BY_KIND[job.kind])
    if unknown or any(not 0 <= index < len(job.headers) for index in chosen):
        raise ValidationError(_("The mapping names a column or field that does not exist."))
    doubled = {name for name in chosen.values() if list(chosen.values()).count(name) > 1}
    if doubled:
        raise ValidationError(
            _("Each field can come from one column only: %(fields)s is chosen twice.")
            % {"fields": ", ".join(sorted(doubled))}
        )
    mapping = Mapping(fields=chosen, unmatched=[])
    if job.kind == ImportKind.CONTACTS and not mapping.has_name:
        raise ValidationError(
            _("Map a column to first name, last name or full name: every contact needs a name.")
        )
    for group in mapping.missing(job.kind):
        raise ValidationError(
            _("Map a column to %(fields)s: the import cannot do without it.")
            % {"fields": _(" or ").join(sorted(group))}
        )
    if save_as:
        saved_mapping_save(
            name=save_as,
            columns={header_key(job.headers[index]): name for index, name in chosen.items()},
            kind=job.kind,
            user=user,
        )
    # Only while no pass is queued or running: a mapping sent from another tab meanwhile must
    # not change what a running import reads.
    changed = ImportJob.objects.filter(pk=job.pk, status__in=MAPPABLE).update(
        mapping={str(index): name for index, name in sorted(chosen.items())},
        create_unions=create_unions,
        consent_question=consent_question.strip(),
        status=ImportJob.Status.UPLOADED,
        preview={},
    )
    if not changed:
        raise ValidationError(_("This import has started: its mapping can no longer change."))
    job.refresh_from_db()
    return import_job_start(job=job, dry_run=True)


def saved_mapping_save(*, name: str, columns: dict[str, str], kind: str, user: Any) -> SavedMapping:
    """Save (or replace) a named mapping."""
    name = " ".join(name.split())[:100]
    existing = SavedMapping.objects.filter(kind=kind, name__iexact=name).first()
    mapping = existing or SavedMapping(kind=kind, name=name)
    mapping.columns = columns
    mapping.created_by = user if getattr(user, "is_authenticated", False) else None
    mapping.created_at = timezone.now()
    try:
        with transaction.atomic():
            mapping.save()
    except IntegrityError:
        raise ValidationError(_("A mapping with this name exists already.")) from None
    return mapping


def import_job_start(*, job: ImportJob, dry_run: bool) -> ImportJob:
    """Preview (dry_run) or import the file: now for small files, on a worker for large ones.

    The import itself only follows its preview, or a failed import being run again.
    """
    from crm import tasks

    status = ImportJob.objects.filter(pk=job.pk)
    if dry_run:
        allowed = status.filter(status__in=MAPPABLE)
    else:
        allowed = status.filter(
            Q(status=ImportJob.Status.PREVIEWED) | Q(status=ImportJob.Status.FAILED, dry_run=False)
        )
    if not job.stored_file or not (_folder(job) / job.stored_file).exists():
        raise ValidationError(_("The uploaded file is no longer kept: upload it again."))
    if not allowed.update(
        status=ImportJob.Status.QUEUED, dry_run=dry_run, failure="", queued_at=timezone.now()
    ):
        raise ValidationError(_("This import is not waiting for that step."))
    job.refresh_from_db()
    _progress_set(job, 0)  # a run again starts its bar from zero
    if job.total_rows <= settings.IMPORT_BACKGROUND_ROWS:
        return import_job_run(job_id=job.pk)

    def enqueue() -> None:
        try:
            tasks.import_job_run.delay(job.pk)
        except Exception:
            # The broker is down: say so on the job, which can be run again, rather than
            # leave it queued with no task to run it.
            log.exception("import %s could not be queued", job.pk)
            ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.QUEUED).update(
                status=ImportJob.Status.FAILED,
                finished_at=timezone.now(),
                failure=_("The import could not be handed to a worker; run it again later."),
            )

    transaction.on_commit(enqueue)
    job.refresh_from_db()
    return job


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a queued job's pass. Only the caller that moves it from queued to running goes on."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING,
        started_at=timezone.now(),
        finished_at=None,
        attempts=F("attempts") + 1,
    )
    job = ImportJob.objects.get(pk=job_id)
    if not claimed:
        return job
    _progress_set(job, 0)
    folder = _folder(job)
    errors_path = folder / ("preview-errors.csv" if job.dry_run else "errors.csv")

    def finished(summary: Summary) -> None:
        # In the import's own transaction: the data and "done" are saved together or not at all.
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.DONE,
            finished_at=timezone.now(),
            created=summary.counts["created"],
            updated=summary.counts["updated"],
            unchanged=summary.counts["unchanged"],
            rejected=summary.counts["rejected"],
            errors_file=errors_path.name if summary.counts["rejected"] else "",
            stored_file="",
            preview={**job.preview, "result": _summary_json(summary)},
        )

    try:
        # Messages go in the language of the organizer who uploaded the file.
        with translation.override(job.language or None):
            table = read_table(folder / job.stored_file, name=job.file_name)
            with errors_path.open("w", encoding="utf-8-sig", newline="") as errors:
                summary = records_import(
                    kind=job.kind,
                    table=table,
                    mapping=job_mapping(job),
                    dry_run=job.dry_run,
                    create_unions=job.create_unions,
                    user_id=job.created_by_id,
                    reason=_("Import #%(id)d (%(file)s)") % {"id": job.pk, "file": job.file_name},
                    errors_to=errors,
                    on_progress=lambda done: _progress_set(job, done),
                    job_id=job.pk,
                    on_done=finished,
                    consent_question=job.consent_question,
                )
    except Exception as error:
        # Anything at all: the transaction is rolled back, and the organizer must see why
        # rather than a job that stays "running" for ever.
        # The message stays out of the log: a database error's DETAIL repeats the row's values.
        log.error("import %s failed: %s", job_id, exception_outline(error))
        message = (
            str(error)
            if isinstance(error, UnreadableFileError | ValidationError)
            else _("The import stopped on an unexpected error; nothing was saved. (%(error)s)")
            % {"error": type(error).__name__}
        )
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.FAILED, finished_at=timezone.now(), failure=message
        )
        errors_path.unlink(missing_ok=True)
        job.refresh_from_db()
        return job
    if job.dry_run:
        ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.RUNNING).update(
            status=ImportJob.Status.PREVIEWED,
            finished_at=timezone.now(),
            preview=_summary_json(summary),
        )
    else:
        # The source file is personal data: kept no longer than the import needs it.
        (folder / job.stored_file).unlink(missing_ok=True)
        (folder / "preview-errors.csv").unlink(missing_ok=True)
        if not summary.counts["rejected"]:
            errors_path.unlink(missing_ok=True)
    job.refresh_from_db()
    return job


def _summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "counts": summary.counts,
        "samples": {status: [asdict(s) for s in rows] for status, rows in summary.samples.items()},
        "created_unions": summary.created_unions[:50],
        "created_employers": summary.created_employers[:50],
        "created_sites": summary.created_sites[:50],
    }


def import_job_cancel(*, job: ImportJob) -> ImportJob:
    # A queued job too: its task, when it comes, finds it cancelled and does nothing.
    cancellable = {*MAPPABLE, ImportJob.Status.QUEUED}
    if not ImportJob.objects.filter(pk=job.pk, status__in=cancellable).update(
        status=ImportJob.Status.CANCELLED, finished_at=timezone.now()
    ):
        raise ValidationError(_("This import can no longer be cancelled."))
    _files_delete(job)
    job.refresh_from_db()
    return job


# Progress -----------------------------------------------------------------------------------


def _progress_key(job: ImportJob) -> str:
    # With the upload time: a database restored or reset reuses ids, the cache remembers them.
    return f"import-job:{job.pk}:{job.created_at.timestamp():.6f}:progress"


def _progress_set(job: ImportJob, done: int) -> None:
    try:
        cache.set(_progress_key(job), (done, time.time()), timeout=24 * 3600)
    except Exception:  # a cache outage must not stop an import; only the progress bar waits
        log.warning("could not record the progress of import %s", job.pk)


def import_job_progress(job: ImportJob) -> tuple[int, float | None]:
    """Rows done by the running pass, and when the worker last said so (epoch seconds)."""
    try:
        found = cache.get(_progress_key(job))
    except Exception:
        found = None
    return found if found else (0, None)


def import_jobs_recover() -> int:
    """Fail running jobs whose worker died (killed, or its machine lost), and queued jobs no
    worker took. Neither wrote anything: the organizer can run them again.

    A live run holds its job's row locked until its transaction ends (records_import), so on
    PostgreSQL a running job whose row can be locked has no run left. SQLite has no row locks:
    there, a run that stopped reporting progress is taken for dead.
    """
    now = timezone.now()
    stale_after = settings.IMPORT_STALE_SECONDS
    failed = 0
    with transaction.atomic():
        for job in ImportJob.objects.select_for_update(skip_locked=True).filter(
            status=ImportJob.Status.RUNNING, started_at__lt=now - timedelta(seconds=stale_after)
        ):
            if not connection.features.has_select_for_update:
                _done, beat = import_job_progress(job)
                if beat is not None and time.time() - beat < stale_after:
                    continue
            failed += ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(
                status=ImportJob.Status.FAILED,
                finished_at=now,
                failure=_(
                    "The worker running this import stopped before it finished; nothing was "
                    "saved. Run it again."
                ),
            )
    failed += ImportJob.objects.filter(
        status=ImportJob.Status.QUEUED,
        queued_at__lt=now - timedelta(seconds=settings.IMPORT_QUEUE_TIMEOUT),
    ).update(
        status=ImportJob.Status.FAILED,
        finished_at=now,
        failure=_("No worker started this import; nothing was saved. Run it again."),
    )
    return failed


def import_files_clean_up() -> int:
    """Delete uploaded files and error reports once a job is over, or a day after upload."""
    cutoff = timezone.now() - timedelta(hours=settings.IMPORT_KEEP_HOURS)
    removed = 0
    for job in ImportJob.objects.filter(created_at__lt=cutoff).exclude(
        Q(stored_file="") & Q(errors_file="")
    ):
        if job.is_active:
            continue
        _files_delete(job)
        removed += 1
    # The admin's import (django-import-export) keeps its upload between preview and confirm,
    # and for ever when the preview is left (crm/settings.py: IMPORT_EXPORT_TMP_STORAGE_CLASS).
    admin_uploads = Path(settings.IMPORT_DIR) / ADMIN_UPLOADS
    for path in admin_uploads.rglob("*") if admin_uploads.is_dir() else ():
        if path.is_file() and path.stat().st_mtime < cutoff.timestamp():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _files_delete(job: ImportJob) -> None:
    shutil.rmtree(_folder(job), ignore_errors=True)
    ImportJob.objects.filter(pk=job.pk).update(stored_file="", errors_file="")
