from typing import Any

from django.core.management.base import BaseCommand

from outreach.services import report_counts_rebuild


class Command(BaseCommand):
    help = (
        "Count the report's running totals again from the consultations (after restoring a "
        "backup, or to check them). Writers wait while it runs."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report_counts_rebuild()
        self.stdout.write("The report's running totals were rebuilt.")
