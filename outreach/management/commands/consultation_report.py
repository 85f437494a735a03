"""Print the consultation report: the figures of the managers' dashboard, as text or JSON."""

from __future__ import annotations

import json
import re
from argparse import ArgumentParser
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_countries import countries

from crm.models import Union
from outreach.reports import ReportFilters, consultation_report, report_tables

QUALIFIED = re.compile(r"^(?P<name>.+?)\s*\((?P<country>[A-Za-z]{2})\)$")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from None


def _union(value: str) -> Union:
    """A union by name, case ignored; "Name (CC)" picks one of several with the same name."""
    name, country = value.strip(), ""
    if (match := QUALIFIED.match(name)) and not Union.objects.filter(name__iexact=name).exists():
        name, country = match["name"], match["country"].upper()
    found = Union.objects.filter(name__iexact=name)
    if country:
        found = found.filter(country=country)
    unions = list(found[:10])
    if len(unions) == 1:
        return unions[0]
    if unions:
        choices = ", ".join(f"{union.name} ({union.country})" for union in unions)
        raise CommandError(f"Several unions are named {value!r}; say which: {choices}")
    raise CommandError(f"No union is named {value!r}.")


class Command(BaseCommand):
    help = (
        "Print the consultation report (held consultations; planned and cancelled apart), "
        "with the same figures as the dashboard."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--from", dest="date_from", help="First day (YYYY-MM-DD), local date.")
        parser.add_argument("--to", dest="date_to", help="Last day (YYYY-MM-DD), included.")
        parser.add_argument("--country", help="ISO 3166 alpha-2 code, e.g. DE.")
        parser.add_argument("--union", help="Union name (its locals are included).")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        filters = self._filters(options)
        report = consultation_report(filters=filters)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
            return
        for table in report_tables(report).values():
            self.stdout.write(f"\n{table.title}")
            self.stdout.write("-" * len(str(table.title)))
            if not table.rows:
                self.stdout.write("(none)")
            for row in table.rows:
                cells = [str(cell) for cell in row]
                if len(cells) == 2:
                    self.stdout.write(f"{cells[0]}: {cells[1]}")
                else:
                    self.stdout.write(" | ".join(cells))

    def _filters(self, options: dict[str, Any]) -> ReportFilters:
        start = _day(options["date_from"]) if options["date_from"] else None
        end = _day(options["date_to"]) if options["date_to"] else None
        if start and end and start > end:
            raise CommandError("--to is before --from.")
        country = (options["country"] or "").strip().upper()
        if country and country not in dict(countries):
            raise CommandError(f"Not an ISO 3166 alpha-2 country code: {options['country']!r}")
        union = _union(options["union"]) if options["union"] else None
        return ReportFilters(date_from=start, date_to=end, country=country, union=union)
