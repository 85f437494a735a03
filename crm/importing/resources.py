"""django-import-export's face of the contact importer, for the admin's import/export buttons.

Its row-by-row path would be a second importer with other rules and a hundredth of the speed,
so import_data hands the dataset to the same engine as the import pages and the command line
(crm/importing/services.contact_import) and reports in django-import-export's Result; export
writes the same columns as the contact export.
"""

from __future__ import annotations

from typing import Any

import tablib
from django.core.exceptions import ValidationError
from import_export import resources
from import_export.results import Error, Result, RowResult

from crm.exports import xlsx_cell
from crm.importing.contacts import CREATED, REJECTED, UNCHANGED, UPDATED
from crm.importing.files import Line, Table
from crm.importing.headers import CONTACT_COLUMNS, detect_mapping
from crm.importing.models import ImportJob, ImportKind
from crm.importing.services import import_job_record
from crm.models import Contact
from crm.selectors import contact_rows, with_list_relations

IMPORT_TYPES = {
    CREATED: RowResult.IMPORT_TYPE_NEW,
    UPDATED: RowResult.IMPORT_TYPE_UPDATE,
    UNCHANGED: RowResult.IMPORT_TYPE_SKIP,
}


def dataset_table(dataset: tablib.Dataset) -> Table:
    """A tablib dataset as the rows the importer reads (numbered as a spreadsheet shows them)."""
    headers = ["" if header is None else str(header).strip() for header in dataset.headers or []]

    def rows() -> Any:
        for number, values in enumerate(dataset, 2):
            line = Line("" if value is None else str(value).strip() for value in values)
            if any(line):
                line.number = number
                yield line

    return Table(headers=headers, rows=rows())


class ContactResource(resources.ModelResource):
    class Meta:
        model = Contact
        fields = ()

    def get_export_headers(self, *args: Any, **kwargs: Any) -> list[str]:
        return list(CONTACT_COLUMNS)

    def get_export_order(self) -> tuple[str, ...]:
        # The admin's export form offers a checkbox per name of this order and refuses to export
        # when none is ticked: with no resource fields it offered none, and the admin's export
        # page could never export anything. The importer's columns are what it offers.
        return CONTACT_COLUMNS

    def export(self, queryset: Any = None, **kwargs: Any) -> tablib.Dataset:
        contacts = queryset if queryset is not None else Contact.objects.all()
        # The columns ticked on the admin's export form, in the importer's order (all of them
        # when called without a choice).
        chosen = set(kwargs.get("export_fields") or CONTACT_COLUMNS)
        keep = [index for index, name in enumerate(CONTACT_COLUMNS) if name in chosen]
        rows = contact_rows(contacts=with_list_relations(contacts.order_by("pk")))
        # Formula-like cells defused as in every other export: tablib wrote them as they were,
        # and its XLSX writer even stored "=..." as a formula (and fails on control characters,
        # whatever the format chosen: cleaned for all).
        return tablib.Dataset(
            *([xlsx_cell(row[index]) for index in keep] for row in rows),
            headers=[CONTACT_COLUMNS[index] for index in keep],
        )

    def import_data(
        self,
        dataset: tablib.Dataset,
        dry_run: bool = False,
        raise_errors: bool = False,
        use_transactions: bool | None = None,
        collect_failed_rows: bool = False,
        rollback_on_validation_errors: bool = False,
        **kwargs: Any,
    ) -> Result:
        table = dataset_table(dataset)
        mapping = detect_mapping(table.headers)
        user = kwargs.get("user")
        result = Result()
        result.diff_headers = list(table.headers)
        rejected: list[tuple[Line, str]] = []
        try:
            _job, summary = import_job_record(
                kind=ImportKind.CONTACTS,
                table=table,
                mapping=mapping,
                file_name=str(kwargs.get("file_name") or "admin upload"),
                user=user,
                source=ImportJob.Source.ADMIN,
                dry_run=dry_run,
                on_rejected=lambda line, message: rejected.append((line, message)),
            )
        except Exception as error:
            if raise_errors:
                raise
            result.append_base_error(Error(error))
            return result
        for line, message in rejected[:1000]:
            result.append_invalid_row(
                line.number, dict(zip(table.headers, line, strict=False)), ValidationError(message)
            )
        result.totals[RowResult.IMPORT_TYPE_INVALID] = summary.counts[REJECTED]
        for status, import_type in IMPORT_TYPES.items():
            result.totals[import_type] = summary.counts[status]
            for sample in summary.samples[status]:
                row = RowResult()
                row.import_type = import_type
                row.object_repr = sample.name
                row.diff = [
                    sample.name,
                    *(f"{label}: {old} → {new}" for label, old, new in sample.changes),
                ]
                result.append_row_result(row)
        result.total_rows = summary.rows
        return result
