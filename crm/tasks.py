"""Celery tasks of the core app: thin wrappers around services."""

from celery import shared_task

from crm import services
from crm.importing import services as importing


@shared_task(name="crm.tasks.worker_heartbeat", ignore_result=True)
def worker_heartbeat() -> None:
    services.worker_heartbeat_record(worker=worker_heartbeat.request.hostname or "unknown")


# A killed worker leaves its job "running"; import_jobs_recover fails it. Never retried here: a
# second run of a half-finished import must be the organizer's decision.
@shared_task(name="crm.tasks.import_job_run", ignore_result=True)
def import_job_run(job_id: int) -> None:
    importing.import_job_run(job_id=job_id)


@shared_task(name="crm.tasks.import_jobs_recover", ignore_result=True)
def import_jobs_recover() -> int:
    return importing.import_jobs_recover()


@shared_task(name="crm.tasks.import_files_clean_up", ignore_result=True)
def import_files_clean_up() -> int:
    return importing.import_files_clean_up()
