"""Celery tasks of the outreach app: thin wrappers around services, retried on database trouble."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from outreach import services


@shared_task(name="outreach.tasks.followups_dispatch", ignore_result=True)
def followups_dispatch() -> int:
    return services.followups_dispatch_due()


# SMTP trouble is handled by the service (the retry is a row); a database that is restarting is
# retried here, briefly: the row stays queued meanwhile and the dispatcher would re-enqueue it.
@shared_task(
    name="outreach.tasks.followup_send",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def followup_send(followup_id: int) -> str:
    return services.followup_send(followup_id=followup_id)


@shared_task(name="outreach.tasks.digests_run", ignore_result=True)
def digests_run() -> int:
    services.digests_schedule()
    return services.digests_dispatch_due()


@shared_task(
    name="outreach.tasks.digest_send",
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def digest_send(digest_id: int) -> str:
    return services.digest_send(digest_id=digest_id)


@shared_task(name="outreach.tasks.report_counts_compact", ignore_result=True)
def report_counts_compact() -> int:
    return services.report_counts_compact()
