"""Import contacts from a spreadsheet, with the same rules as the import pages (see
crm/importing/command.py for the output and the exit status)."""

from crm.importing.command import ImportCommand
from crm.importing.models import ImportKind


class Command(ImportCommand):
    help = "Import contacts from a CSV, XLSX or ODS file."
    kind = ImportKind.CONTACTS
