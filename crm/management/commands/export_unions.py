"""Write every union to a CSV or XLSX file in the importer's columns."""

from collections.abc import Iterable
from typing import Any

from crm.importing.export_command import ExportCommand
from crm.importing.headers import UNION_COLUMNS
from crm.models import Union
from crm.selectors import union_rows


class Command(ExportCommand):
    help = "Export unions to a CSV or XLSX file that import_unions reads back."
    columns = UNION_COLUMNS
    sheet = "unions"

    def rows(self) -> Iterable[list[Any]]:
        return union_rows(unions=Union.objects.all())
