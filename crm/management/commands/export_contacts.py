"""Write every contact to a CSV or XLSX file in the importer's columns."""

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from crm.importing.export_command import ExportCommand
from crm.importing.headers import CONTACT_COLUMNS
from crm.models import Contact
from crm.selectors import contact_rows, with_list_relations


class Command(ExportCommand):
    help = "Export contacts to a CSV or XLSX file that import_contacts reads back."
    columns = CONTACT_COLUMNS
    sheet = "contacts"

    def rows(self) -> Iterable[list[Any]]:
        return contact_rows(contacts=with_list_relations(Contact.objects.order_by("pk")))

    def people(self) -> QuerySet[Any]:
        return Contact.objects.all()
