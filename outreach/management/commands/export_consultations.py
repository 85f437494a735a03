"""Write every consultation to a CSV or XLSX file in the importer's columns."""

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from crm.importing.export_command import ExportCommand
from crm.importing.headers import CONSULTATION_COLUMNS
from crm.models import Contact
from outreach.models import Consultation
from outreach.selectors import consultation_rows


class Command(ExportCommand):
    help = "Export consultations to a CSV or XLSX file that import_consultations reads back."
    columns = CONSULTATION_COLUMNS
    sheet = "consultations"

    def rows(self) -> Iterable[list[Any]]:
        return consultation_rows(consultations=Consultation.objects.all())

    def people(self) -> QuerySet[Any]:
        # The file lists every attendee by name and address.
        return Contact.objects.filter(attendances__isnull=False)
