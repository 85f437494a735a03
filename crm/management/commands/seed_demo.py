from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crm.demo import DEMO_PASSWORD, DemoUserConflictError, demo_users_ensure, seed_demo
from crm.models import Contact
from outreach.demo import seed_comments, seed_consultations


class Command(BaseCommand):
    help = (
        "Create demo unions, employers, sites and contacts (idempotent), and optionally demo users."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--contacts", type=int, default=200, help="How many demo contacts (default 200)."
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=2026,
            help="Random seed: the same seed gives the same people.",
        )
        parser.add_argument(
            "--users",
            action="store_true",
            help="Also create one demo user per role (published password: only with DEBUG on).",
        )
        parser.add_argument(
            "--allow-demo-users-without-debug",
            action="store_true",
            help="Create the demo users even with DEBUG off (a demo server, never production).",
        )
        parser.add_argument(
            "--consultations",
            type=int,
            default=80,
            help="How many demo consultations, led by the first outreach staffer (default 80).",
        )
        parser.add_argument(
            "--volume-consultations",
            type=int,
            default=0,
            help="PostgreSQL only: add this many generated consultations (three attendees each, "
            "over three years) for load tests and benchmarks.",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing but the users when the database has contacts.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["contacts"] < 0:
            raise CommandError("--contacts must be zero or more.")
        if options["users"] and not (settings.DEBUG or options["allow_demo_users_without_debug"]):
            raise CommandError(
                "Demo users have a published password: refused with DEBUG off "
                "(--allow-demo-users-without-debug for a demo server)."
            )
        seeded_before = Contact.objects.exists()
        if options["if_empty"] and seeded_before:
            self.stdout.write("The database has contacts already: demo data left as it is.")
        else:
            report = seed_demo(contacts=options["contacts"], seed=options["seed"])
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo data: {report.unions} unions, {report.employers} employers, "
                    f"{report.sites} sites, {report.contacts} contacts, "
                    f"{report.memberships} memberships created."
                )
            )
        if options["users"]:
            try:
                logins = demo_users_ensure()
            except DemoUserConflictError as conflict:
                raise CommandError(
                    f"A user named {conflict} exists and is not a demo account: left alone."
                ) from None
        if not (options["if_empty"] and seeded_before):
            made = seed_consultations(count=options["consultations"], seed=options["seed"])
            self.stdout.write(f"Demo consultations: {made} created.")
            comments = seed_comments(seed=options["seed"])
            self.stdout.write(f"Demo public comments: {comments} created.")
        if options["volume_consultations"] > 0:
            from django.db import connection

            from outreach.volume import volume_seed

            if connection.vendor != "postgresql":
                raise CommandError("--volume-consultations needs PostgreSQL (DATABASE_URL).")
            volume = volume_seed(consultations=options["volume_consultations"])
            self.stdout.write(
                f"Volume data: {volume.consultations} consultations, {volume.attendances} "
                f"attendances, {volume.contacts} contacts, {volume.followups} follow-ups in all."
            )
        if options["users"]:
            self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
            for username, role in logins:
                self.stdout.write(f"  {username:<10} {role}")
            self.stdout.write(
                "The administrator sets up an authenticator app (two-factor sign-in) when first "
                "signing in."
            )
