"""What the import_contacts, import_unions and import_consultations commands share.

The last line printed is `created=N updated=N unchanged=N rejected=N`. Exit status: 0 when no
row was rejected, 1 when some were (the valid rows are imported), 2 when the file cannot be
used at all (unreadable, no header, a required column missing) and nothing was written; 3 when
the import failed on an unexpected error (a database outage, say), and nothing was written
either.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from crm.importing.files import UnreadableFileError, read_table
from crm.importing.headers import detect_mapping
from crm.importing.models import ImportJob
from crm.importing.services import import_job_record


class ImportCommand(BaseCommand):
    kind = ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check and count; save nothing.")
        parser.add_argument(
            "--create-unions",
            action="store_true",
            help="Create unions the file names but the CRM lacks.",
        )
        parser.add_argument("--errors", type=Path, help="Write the rejected rows to this CSV file.")
        parser.add_argument("--user", help="Record the import as done by this user.")
        parser.add_argument(
            "--consent-question",
            default="",
            help="What the people in the file were asked about e-mail, and where; kept with "
            "each consent answer (otherwise the record names the file and its column).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"No user named {options['user']!r}.", returncode=2)
        path: Path = options["path"]
        try:
            table = read_table(path)
            mapping = detect_mapping(table.headers, self.kind)
            if mapping.missing(self.kind):
                # Refused before a job is recorded: an unusable file writes nothing at all.
                raise UnreadableFileError(
                    _("No column holds %(fields)s: map one before importing.")
                    % {"fields": _(" or ").join(sorted(mapping.missing(self.kind)[0]))}
                )
            errors_path: Path | None = options["errors"]
            with ExitStack() as stack:
                errors = (
                    stack.enter_context(errors_path.open("w", encoding="utf-8-sig", newline=""))
                    if errors_path
                    else None
                )
                _job, summary = import_job_record(
                    kind=self.kind,
                    table=table,
                    mapping=mapping,
                    file_name=path.name,
                    user=user,
                    source=ImportJob.Source.COMMAND,
                    dry_run=options["dry_run"],
                    create_unions=options["create_unions"],
                    consent_question=options["consent_question"],
                    errors_to=errors,
                )
        except (UnreadableFileError, OSError) as error:
            self.stderr.write(f"{path}: {error}")
            self.stdout.write("created=0 updated=0 unchanged=0 rejected=0")
            sys.exit(2)
        except Exception as error:
            # The transaction was rolled back: say so, with a status of its own.
            self.stderr.write(f"{path}: the import failed and nothing was saved: {error!r}")
            sys.exit(3)
        for name in summary.created_unions:
            self.stdout.write(f"new union: {name}")
        self.stdout.write(summary.line())
        if summary.counts["rejected"]:
            sys.exit(1)
