"""The weekly report e-mail to managers who asked for it, through the follow-up outbox.

Every hour beat calls `digests_schedule`: for each subscriber whose Monday morning (in their own
time zone) has come, it adds the row for the week just ended. The row's unique (recipient, week)
pair means a second beat, a re-run or a restart can never make a second e-mail for the same week.
The rows are then dispatched, claimed and sent exactly as follow-ups are (services/followups.py).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from crm.timezones import is_valid_timezone
from outreach.models import Digest, FollowUp
from outreach.reports import ReportFilters, consultation_report, report_tables
from outreach.services.followups import (
    _finish,
    _message_id,
    outbox_claim,
    outbox_deliver,
    outbox_dispatch_due,
)

Status = FollowUp.Status
SEND_FROM = time(7, 0)  # Monday, in the subscriber's zone


def digest_subscribers() -> QuerySet[Any]:
    """Active users with an e-mail address who asked for the digest and may read the reports."""
    permission = Permission.objects.filter(
        content_type__app_label="outreach", codename="view_reports"
    ).first()
    may_read = Q(is_superuser=True)
    if permission is not None:
        may_read |= Q(groups__permissions=permission) | Q(user_permissions=permission)
    return (
        get_user_model()
        .objects.filter(may_read, is_active=True, staff_profile__weekly_digest=True)
        .exclude(email="")
        .select_related("staff_profile")
        .distinct()
    )


def _zone(user: Any) -> ZoneInfo:
    name = getattr(getattr(user, "staff_profile", None), "timezone", "")
    return ZoneInfo(name if name and is_valid_timezone(name) else settings.TIME_ZONE)


def digests_schedule(*, now: datetime | None = None) -> int:
    """Add the row of the week just ended for every subscriber whose Monday morning has come."""
    now = now or timezone.now()
    rows = []
    for user in digest_subscribers():
        local = now.astimezone(_zone(user))
        monday = local.date() - timedelta(days=local.weekday())
        if local.weekday() == 0 and local.time() < SEND_FROM:
            continue
        rows.append(
            Digest(
                recipient=user,
                week_start=monday - timedelta(days=7),
                send_at=now,
                message_id=_message_id(),
            )
        )
    existing = set(
        Digest.objects.filter(
            recipient__in=[row.recipient for row in rows],
            week_start__in={row.week_start for row in rows},
        ).values_list("recipient_id", "week_start")
    )
    rows = [row for row in rows if (row.recipient.pk, row.week_start) not in existing]
    # The unique (recipient, week) pair settles a race with another beat: the loser adds nothing.
    Digest.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def digests_dispatch_due(*, now: datetime | None = None) -> int:
    from outreach.tasks import digest_send as send_task

    return outbox_dispatch_due(model=Digest, task=send_task, now=now)


def digest_email(digest: Digest) -> EmailMultiAlternatives:
    """Last week's figures, as text and HTML, with a link to the dashboard for that week."""
    start = digest.week_start
    end = start + timedelta(days=6)
    report = consultation_report(filters=ReportFilters(date_from=start, date_to=end))
    query = urlencode({"date_from": start.isoformat(), "date_to": end.isoformat()})
    context = {
        "report": report,
        "tables": report_tables(report),
        "start": start,
        "end": end,
        "dashboard_url": f"{settings.SITE_URL}{reverse('reports:dashboard')}?{query}",
        "settings_url": f"{settings.SITE_URL}{reverse('my_settings')}",
    }
    subject = _("Consultations, week of %(start)s: %(held)d held") % {
        "start": start.isoformat(),
        "held": report.total_consultations,
    }
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("outreach/email/digest.txt", context),
        to=[digest.recipient.email],
        headers={"Message-ID": digest.message_id},
    )
    message.attach_alternative(render_to_string("outreach/email/digest.html", context), "text/html")
    return message


def digest_send(*, digest_id: int) -> str:
    """Send one queued digest, claimed as a follow-up is: a second task for it does nothing."""
    if not outbox_claim(model=Digest, pk=digest_id):
        return "skipped"
    digest = Digest.objects.select_related("recipient", "recipient__staff_profile").get(
        pk=digest_id
    )
    if not digest_subscribers().filter(pk=digest.recipient_id).exists():
        # Unsubscribed, deactivated or no longer a manager since the row was made.
        _finish(digest, Status.SUPPRESSED, last_error=_("No longer subscribed."))
        return "suppressed"
    with translation.override(settings.LANGUAGE_CODE):
        message = digest_email(digest)
    outcome = outbox_deliver(digest, message)
    if outcome is not None:
        return outcome
    body = message.body if isinstance(message.body, str) else ""
    Digest.objects.filter(pk=digest.pk, status__in=[Status.SENDING, Status.UNKNOWN]).update(
        status=Status.SENT,
        sent_at=timezone.now(),
        sent_subject=str(message.subject)[:250],
        sent_body=body,
        last_error="",
    )
    return "sent"
