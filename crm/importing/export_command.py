"""What export_contacts, export_unions and export_consultations share: CSV or XLSX by the
file's extension, in the columns the matching importer reads, formula-like cells defused."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from crm.exports import write_table


class ExportCommand(BaseCommand):
    columns: tuple[str, ...] = ()
    sheet = ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="A .csv or .xlsx file to write.")

    def rows(self) -> Iterable[list[Any]]:
        raise NotImplementedError

    def people(self) -> QuerySet[Any] | None:
        """The contacts the file names, for the access log; None when it names nobody."""
        return None

    def command_name(self) -> str:
        return self.__module__.rsplit(".", 1)[-1]

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if path.suffix.lower() not in {".csv", ".xlsx"}:
            raise CommandError("Write to a .csv or an .xlsx file.")
        people = self.people()
        if people is not None:
            from crm.privacy.services import contacts_access_record

            contacts_access_record(
                contacts=people, by=None, source=f"{self.command_name()} {path.name}"
            )
        count = write_table(path, header=list(self.columns), rows=self.rows(), sheet=self.sheet)
        self.stdout.write(f"{count} rows written to {path}")
