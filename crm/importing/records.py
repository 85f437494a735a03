"""Importers of records that come by the hundred, not the hundred thousand: unions and
historical consultations. Each row is parsed like a contact row (crm/importing/cells.py), then
saved through the app's own services in a savepoint of the import's transaction, so that a row
the services refuse is rejected alone and the rules of the forms hold for imports too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from crm.importing.cells import CellError, shown, unescape
from crm.importing.contacts import (
    CREATED,
    REJECTED,
    SAMPLES_PER_STATUS,
    UNCHANGED,
    UPDATED,
    Sample,
    Summary,
)
from crm.importing.files import Line
from crm.importing.headers import Mapping
from crm.importing.references import References
from crm.models import Union

Parser = Callable[[str, dict[str, Any]], Any]
Change = tuple[str, str, str]


class RowRejectedError(Exception):
    """A row that cannot be saved: why, and which column (field) it is about, if one."""

    def __init__(self, text: str, field: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.field = field


class RecordImporter:
    """Subclasses set `parsers` (field -> parser, in the order they run) and implement save()."""

    parsers: list[tuple[str, Parser]] = []

    def __init__(
        self,
        *,
        headers: list[str],
        mapping: Mapping,
        create_unions: bool = False,
        user_id: int | None = None,
        reason: str = "",
        on_rejected: Callable[[Line, str], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
        dry_run: bool = False,
    ) -> None:
        self.dry_run = dry_run
        self.headers = headers
        self.columns = sorted(mapping.fields.items())
        self.header_of = {name: headers[index] for index, name in self.columns}
        self.index_of = {name: index for index, name in self.columns}
        self.user_id = user_id
        self.reason = reason[:100]
        self.on_rejected = on_rejected
        self.on_progress = on_progress
        self.refs = References(create_unions=create_unions, user_id=user_id)
        self.summary = Summary()
        self._rejected: list[tuple[Line, str, str]] = []

    def ordered(self, rows: list[tuple[Line, dict[str, Any]]]) -> list[tuple[Line, dict[str, Any]]]:
        """The order rows are saved in (the file's, unless a subclass needs parents first)."""
        return rows

    def run(self, lines: Iterable[Line]) -> Summary:
        if connection.vendor == "postgresql" and not self.dry_run:
            # One import of a kind at a time: two files naming the same new union (or meeting)
            # would otherwise both find none and both create it.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"crm.{type(self).__name__}"]
                )
        parsed: list[tuple[Line, dict[str, Any]]] = []
        for line in lines:
            values, errors = self._parse(line)
            if errors:
                self._reject(line, values, "; ".join(errors))
            else:
                parsed.append((line, values))
        for done, (line, values) in enumerate(self.ordered(parsed), 1):
            created_unions = len(self.refs.created_unions)
            try:
                with transaction.atomic():
                    status, name, changes = self.save(values)
            except RowRejectedError as rejection:
                self._forget_unions(created_unions)
                self._reject(line, values, self.message(line, rejection.field, rejection.text))
            except ValidationError as error:
                self._forget_unions(created_unions)
                self._reject(line, values, self._explain(line, error))
            else:
                self._count(line, status, name, changes)
            if self.on_progress is not None and done % 100 == 0:
                self.on_progress(done)
        self._report_rejected()
        self.summary.created_unions = self.refs.created_unions
        return self.summary

    def save(self, values: dict[str, Any]) -> tuple[str, str, list[Change]]:
        raise NotImplementedError

    def _forget_unions(self, count: int) -> None:
        """Unions a rejected row created (create missing unions) went with its savepoint.

        References still knew them: the next row naming one got the id of a union that no
        longer exists (Union.DoesNotExist, and the whole import failed), and the summary listed
        it as created. The names and ids are read again from the database.
        """
        refs = self.refs
        if len(refs.created_unions) == count:
            return
        del refs.created_unions[count:]
        refs.unions_by_key.clear()
        refs.union_names.clear()
        refs.union_labels.clear()
        for union_id, name, acronym, country in Union.objects.values_list(
            "id", "name", "acronym", "country"
        ):
            refs._remember_union(union_id, name, acronym, country)

    # Parsing ------------------------------------------------------------------------------------

    def _parse(self, line: Line) -> tuple[dict[str, Any], list[str]]:
        raw = {}
        for index, name in self.columns:
            cell = line[index] if index < len(line) else ""
            if cell:
                raw[name] = unescape(cell)
        values: dict[str, Any] = {}
        errors = []
        for name, parser in self.parsers:
            if name not in raw:
                continue
            try:
                values[name] = parser(raw[name], values)
            except CellError as error:
                errors.append(self.message(line, name, str(error)))
        return values, errors

    def message(self, line: Line, field: str | None, text: str) -> str:
        if field and field in self.header_of:
            return _("Row %(row)d, column “%(column)s”: %(message)s") % {
                "row": line.number,
                "column": self.header_of[field],
                "message": text,
            }
        return _("Row %(row)d: %(message)s") % {"row": line.number, "message": text}

    def _explain(self, line: Line, error: ValidationError) -> str:
        """A service's ValidationError as the row's message, naming the columns it concerns."""
        if not hasattr(error, "error_dict"):
            return self.message(line, None, " ".join(error.messages))
        parts = []
        for field, errors in error.message_dict.items():
            column = self.field_column(field)
            text = " ".join(errors)
            # The message names the value too, as the parsers' messages do: "A local's parent
            # must be a national union" alone does not say which cell to fix.
            value = self._cell(line, column) if field != NON_FIELD_ERRORS else ""
            if value:
                text = f"“{shown(value)}”: {text}"
            parts.append(self.message(line, None if field == NON_FIELD_ERRORS else column, text))
        return "; ".join(parts)

    def _cell(self, line: Line, field: str) -> str:
        index = self.index_of.get(field)
        return unescape(line[index]) if index is not None and index < len(line) else ""

    def field_column(self, model_field: str) -> str:
        """The import column a model field comes from (subclasses map the names that differ)."""
        return model_field

    # Counting -----------------------------------------------------------------------------------

    def _count(self, line: Line, status: str, name: str, changes: list[Change]) -> None:
        self.summary.counts[status] += 1
        samples = self.summary.samples[status]
        if len(samples) < SAMPLES_PER_STATUS:
            samples.append(
                Sample(
                    number=line.number,
                    status=status,
                    name=name,
                    changes=changes if status == UPDATED else [],
                )
            )

    def _reject(self, line: Line, values: dict[str, Any], message: str) -> None:
        # Kept until the end, then reported in the file's order: rows are not saved in it
        # (parents first), and a person fixing the error file reads it top to bottom.
        self.summary.counts[REJECTED] += 1
        name = str(values.get("name") or values.get("title") or "")
        self._rejected.append((line, name, message))

    def _report_rejected(self) -> None:
        for line, name, message in sorted(self._rejected, key=lambda item: item[0].number):
            samples = self.summary.samples[REJECTED]
            if len(samples) < SAMPLES_PER_STATUS:
                samples.append(
                    Sample(number=line.number, status=REJECTED, name=name, error=message)
                )
            if self.on_rejected is not None:
                self.on_rejected(line, message)


def outcome(new: bool, changes: list[Change]) -> str:
    if new:
        return CREATED
    return UPDATED if changes else UNCHANGED
