"""Import historical consultations from a spreadsheet (see crm/importing/command.py)."""

from crm.importing.command import ImportCommand
from crm.importing.models import ImportKind


class Command(ImportCommand):
    help = "Import historical consultations from a CSV, XLSX or ODS file."
    kind = ImportKind.CONSULTATIONS
