from typing import Any

from django.core.management.base import BaseCommand

from outreach.services import followups_dispatch_due


class Command(BaseCommand):
    help = (
        "Queue every follow-up that is due now (what beat does every minute), and report how many."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = followups_dispatch_due()
        self.stdout.write(f"{count} follow-up(s) queued for sending.")
