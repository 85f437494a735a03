"""Celery tasks of the core app: thin wrappers around services."""

from celery import shared_task

from crm import services


@shared_task(name="crm.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    services.worker_heartbeat_record(worker=worker_heartbeat.request.hostname or "unknown")
