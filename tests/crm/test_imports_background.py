"""Large files go to a real Celery worker: progress, and a worker killed mid-import."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.importing import services
from crm.models import Contact, ImportJob
from tests.processes import celery_worker, process_env, wait_for

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _csv(path: Path, rows: int) -> bytes:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["first_name", "last_name", "email", "country"])
        for number in range(rows):
            writer.writerow(["Łucja", f"Wójcik-{number}", f"lucja{number}@example.pl", "PL"])
    return path.read_bytes()


@pytest.fixture
def worker(tmp_path, postgres, redis_url, redis_broker, settings):
    settings.IMPORT_BACKGROUND_ROWS = 10
    started = []

    def start(name: str = "worker"):
        process = celery_worker(tmp_path, name, process_env(CELERY_BROKER_URL=redis_broker))
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()


def _upload(client, content: bytes) -> ImportJob:
    upload = SimpleUploadedFile("big.csv", content, content_type="text/csv")
    client.post(reverse("crm:import_create"), {"file": upload})
    return ImportJob.objects.latest("pk")


def _wait_status(job: ImportJob, status: str, timeout: float = 60) -> ImportJob:
    wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, status=status).exists(),
        timeout=timeout,
        what=f"import {job.pk} to be {status}",
    )
    job.refresh_from_db()
    return job


def test_it_previews_and_imports_a_large_file_on_a_worker(organizer_client, worker, tmp_path):
    worker()
    job = _upload(organizer_client, _csv(tmp_path / "big.csv", 300))
    mapping = {f"column_{index}": name for index, name in job.mapping.items()}
    organizer_client.post(reverse("crm:import_map", args=[job.pk]), mapping)
    job.refresh_from_db()
    assert job.status in {ImportJob.Status.QUEUED, ImportJob.Status.RUNNING}
    page = organizer_client.get(reverse("crm:import_detail", args=[job.pk])).content.decode()
    assert 'data-testid="import-progress"' in page

    job = _wait_status(job, ImportJob.Status.PREVIEWED)
    assert job.preview["counts"]["created"] == 300
    assert Contact.objects.count() == 0
    progress = organizer_client.get(reverse("crm:import_progress", args=[job.pk]))
    assert progress.status_code == 204
    assert progress["HX-Refresh"] == "true"

    organizer_client.post(reverse("crm:import_confirm", args=[job.pk]))
    job = _wait_status(job, ImportJob.Status.DONE)
    assert job.created == 300
    assert Contact.objects.count() == 300


def test_it_fails_a_job_whose_worker_was_killed_and_runs_it_again(
    organizer_client, worker, tmp_path, settings
):
    settings.IMPORT_STALE_SECONDS = 5
    rows = 20_000
    job = _upload(organizer_client, _csv(tmp_path / "big.csv", rows))
    # Straight to the import: the preview is tested above and would double the time.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.PREVIEWED)
    job.refresh_from_db()
    first = worker("first")
    services.import_job_start(job=job, dry_run=False)
    wait_for(
        lambda: services.import_job_progress(job)[0] >= 2000,
        timeout=60,
        what="the worker to import a first chunk",
    )
    first.kill()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    assert Contact.objects.count() == 0  # nothing is visible before the commit

    time.sleep(settings.IMPORT_STALE_SECONDS + 1)
    assert services.import_jobs_recover() == 1
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "stopped before it finished" in job.failure
    assert Contact.objects.count() == 0  # the killed transaction left nothing behind

    worker("second")
    organizer_client.post(reverse("crm:import_retry", args=[job.pk]))
    job = _wait_status(job, ImportJob.Status.DONE, timeout=120)
    assert (job.created, job.attempts) == (rows, 2)
    assert Contact.objects.count() == rows
