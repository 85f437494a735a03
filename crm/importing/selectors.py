"""Reads of the import pages: the history, one job, the first rows of its file."""

from __future__ import annotations

import itertools
from typing import Any

from django.db.models import QuerySet

from crm.importing.files import UnreadableFileError, read_table
from crm.importing.models import ImportJob


def import_jobs_visible_to(user: Any) -> QuerySet[ImportJob]:
    """Organizers see their own imports; administrators (who may view all) see everyone's."""
    jobs = ImportJob.objects.select_related("created_by")
    if user.has_perm("crm.view_importjob"):
        return jobs
    return jobs.filter(created_by=user)


def import_job_sample(job: ImportJob, *, rows: int = 3) -> list[list[str]]:
    """The first rows of the uploaded file, to show beside the mapping."""
    if not job.stored_file:
        return []
    try:
        table = read_table(job.folder / job.stored_file, name=job.file_name)
        return [list(row) for row in itertools.islice(table.rows, rows)]
    except (UnreadableFileError, OSError):
        return []
