"""Running totals behind the consultation report, kept by PostgreSQL triggers.

Every write that changes a figure of the report (a consultation held, moved or cancelled; a union,
topic or concern added to one; a person attending; a follow-up sent) makes the database append a
+1 and -1 row here, inside the same transaction (outreach/migrations/0011_report_counts.py). Rows
are only ever appended, so concurrent writers never wait for each other; the figures are the sums.
`report_counts_compact` (beat, every minute) folds the rows into one per key. The report reads the
sums when its filters allow (a country and whole months), the base tables otherwise.
"""

from __future__ import annotations

from django.db import models


class ReportCount(models.Model):
    """Per month and country: consultations by status and position; held ones by union, topic,
    concern, follow-up status and (in whole hours) the delay to their first sent follow-up."""

    month = models.DateField(null=True)  # null: all months
    country = models.CharField(max_length=2)
    kind = models.CharField(max_length=10)
    key = models.CharField(max_length=40)
    n = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["month", "country", "kind"], name="outreach_rc_cell")]

    def __str__(self) -> str:
        return f"{self.month} {self.country} {self.kind} {self.key}: {self.n}"


class ReportReach(models.Model):
    """Attendances of held consultations per person, month and country (month null: in all)."""

    month = models.DateField(null=True)
    country = models.CharField(max_length=2)
    contact_id = models.BigIntegerField()
    n = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["country", "month", "contact_id"], name="outreach_rr_cell")]

    def __str__(self) -> str:
        return f"{self.month} {self.country} {self.contact_id}: {self.n}"


class ReportFirstSent(models.Model):
    """The delay from a consultation to its first sent follow-up, in whole hours."""

    consultation_id = models.BigIntegerField(primary_key=True)
    hours = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.consultation_id}: {self.hours} h"
