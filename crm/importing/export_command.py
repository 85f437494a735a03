"""What export_contacts, export_unions and export_consultations share: CSV or XLSX by the
file's extension, in the columns the matching importer reads, formula-like cells defused."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.exports import write_table


class ExportCommand(BaseCommand):
    columns: tuple[str, ...] = ()
    sheet = ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="A .csv or .xlsx file to write.")

    def rows(self) -> Iterable[list[Any]]:
        raise NotImplementedError

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        if path.suffix.lower() not in {".csv", ".xlsx"}:
            raise CommandError("Write to a .csv or an .xlsx file.")
        count = write_table(path, header=list(self.columns), rows=self.rows(), sheet=self.sheet)
        self.stdout.write(f"{count} rows written to {path}")
