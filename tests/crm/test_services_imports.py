"""Import jobs against misuse and failure: steps out of order, hostile files, a broker or a
worker that is gone, a run that is alive but slow."""

from __future__ import annotations

import os
import re
import threading
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from openpyxl import Workbook

from crm import tasks
from crm.exports import write_table
from crm.importing import services
from crm.importing.storage import ADMIN_UPLOADS
from crm.models import Contact, ImportJob

pytestmark = pytest.mark.django_db

CSV = b"first_name,last_name,email\nAnna,Nowak,anna@example.pl\n"


def _job(content: bytes = CSV, name: str = "people.csv", **extra) -> ImportJob:
    return services.import_job_create(upload=[content], file_name=name, user=None, **extra)


def test_it_refuses_the_import_before_a_preview_and_after_a_failed_preview(settings):
    job = _job()
    with pytest.raises(ValidationError, match="not waiting for that step"):
        services.import_job_start(job=job, dry_run=False)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, dry_run=True)
    job.refresh_from_db()
    with pytest.raises(ValidationError, match="not waiting for that step"):
        services.import_job_start(job=job, dry_run=False)
    assert not Contact.objects.exists()


def test_it_runs_a_failed_import_again_but_never_remaps_a_running_one():
    job = _job()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, dry_run=False)
    job.refresh_from_db()
    with pytest.raises(ValidationError, match="can no longer change"):
        services.import_job_map(job=job, fields={0: "first_name"}, create_unions=False)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED)
    job.refresh_from_db()
    job = services.import_job_start(job=job, dry_run=False)
    assert job.status == ImportJob.Status.DONE
    assert Contact.objects.get().email == "anna@example.pl"


def test_it_fails_a_large_job_visibly_when_the_broker_is_down(
    monkeypatch, settings, django_capture_on_commit_callbacks
):
    from crm import tasks

    settings.IMPORT_BACKGROUND_ROWS = 0

    def down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.import_job_run, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.import_job_start(job=_job(), dry_run=True)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "could not be handed to a worker" in job.failure


def test_it_fails_queued_jobs_no_worker_took(settings):
    settings.IMPORT_QUEUE_TIMEOUT = 60
    job = _job()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.QUEUED, queued_at=timezone.now() - timedelta(minutes=2)
    )
    fresh = _job(name="fresh.csv")
    ImportJob.objects.filter(pk=fresh.pk).update(
        status=ImportJob.Status.QUEUED, queued_at=timezone.now()
    )
    assert services.import_jobs_recover() == 1
    job.refresh_from_db()
    fresh.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "No worker started this import" in job.failure
    assert fresh.status == ImportJob.Status.QUEUED


def test_it_lets_a_queued_job_be_cancelled():
    job = _job()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)
    job.refresh_from_db()
    services.import_job_cancel(job=job)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED
    assert not job.folder.exists()
    assert services.import_job_run(job_id=job.pk).status == ImportJob.Status.CANCELLED


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_never_fails_a_run_whose_transaction_is_alive(postgres, settings):
    settings.IMPORT_STALE_SECONDS = 5
    job = _job()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now() - timedelta(minutes=5)
    )
    locked, release = threading.Event(), threading.Event()

    def live_run() -> None:
        # What records_import does for the length of an import, on a connection of its own.
        try:
            with transaction.atomic():
                list(ImportJob.objects.select_for_update().filter(pk=job.pk))
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    worker = threading.Thread(target=live_run)
    worker.start()
    try:
        assert locked.wait(timeout=10)
        assert services.import_jobs_recover() == 0
        job.refresh_from_db()
        assert job.status == ImportJob.Status.RUNNING
    finally:
        release.set()
        worker.join()
    assert services.import_jobs_recover() == 1  # its transaction gone, the run is dead


def _xlsx(path: Path, rows: list[list[str]]) -> Path:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


def test_it_reads_only_the_cells_an_xlsx_really_has(tmp_path):
    # A sheet that claims to be 1,048,576 rows of 16,384 columns, with one row in it.
    plain = _xlsx(tmp_path / "plain.xlsx", [["first_name", "last_name"], ["Anna", "Nowak"]])
    hostile = tmp_path / "hostile.xlsx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(hostile, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(
                    rb'<dimension ref="A1:B2" ?/>', b'<dimension ref="A1:XFD1048576"/>', data
                )
                assert b"XFD1048576" in data
            target.writestr(item, data)
    from crm.importing.files import read_table

    assert list(read_table(hostile).rows) == [["Anna", "Nowak"]]  # not 16,384 cells wide
    job = _job(hostile.read_bytes(), name="hostile.xlsx")
    assert job.total_rows == 1
    assert job.headers == ["first_name", "last_name"]


def test_it_refuses_a_zip_that_unpacks_too_large(tmp_path, settings):
    settings.IMPORT_MAX_UNPACKED_BYTES = 10_000
    path = _xlsx(tmp_path / "big.xlsx", [["first_name"], *[[f"Anna {n}"] for n in range(2000)]])
    with pytest.raises(ValidationError, match="unpacks to more than"):
        _job(path.read_bytes(), name="big.xlsx")
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("name", ["broken.xlsx", "broken.ods"])
def test_it_turns_a_broken_file_into_a_message_and_keeps_nothing(name, settings, tmp_path):
    settings.IMPORT_DIR = tmp_path
    with pytest.raises(ValidationError, match="cannot be read"):
        _job(b"PK\x03\x04" + b"\x00" * 100, name=name)
    assert not ImportJob.objects.exists()
    assert not any(tmp_path.glob("*/source*"))


def test_it_logs_an_unreadable_upload_without_its_name_or_contents(monkeypatch, caplog):
    def choke(*args, **kwargs):
        raise KeyError("Wiśniewska")

    monkeypatch.setattr(services, "read_table", choke)
    with pytest.raises(ValidationError, match="cannot be read as a spreadsheet"):
        _job(name="Małgorzata Wiśniewska.csv")
    (message,) = [r.getMessage() for r in caplog.records if r.name == services.__name__]
    assert message.startswith("an upload (.csv) could not be read: KeyError at ")
    assert "Wiśniewska" not in caplog.text


def test_it_logs_a_failed_import_without_the_rows_values(monkeypatch, caplog):
    job = services.import_job_start(job=_job(), dry_run=True)

    def fail(**kwargs):
        raise IntegrityError("duplicate key\nDETAIL:  Key (union_id, name)=(3, Anna Nowak)")

    monkeypatch.setattr(services, "records_import", fail)
    job = services.import_job_start(job=job, dry_run=False)
    assert job.status == ImportJob.Status.FAILED
    (message,) = [r.getMessage() for r in caplog.records if r.name == services.__name__]
    assert message.startswith(f"import {job.pk} failed: IntegrityError at tests/crm/")
    assert "Nowak" not in caplog.text


def test_it_drops_a_nul_from_a_header():
    job = _job(b"first_\x00name,last_name\nAnna,Nowak\n")
    assert job.headers == ["first_name", "last_name"]


def test_it_defuses_formulas_in_the_error_files_header(tmp_path):
    job = _job(b'first_name,=HYPERLINK("http://evil"),email\nAnna,x,not-an-email\n')
    job = services.import_job_start(job=job, dry_run=True)
    text = (job.folder / "preview-errors.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == 'first_name,"\'=HYPERLINK(""http://evil"")",email,error'


def test_it_writes_xlsx_with_characters_xlsx_cannot_hold(tmp_path):
    path = tmp_path / "out.xlsx"
    write_table(path, header=["notes"], rows=[["bell\x07 and tab\there"]], sheet="x")
    from openpyxl import load_workbook

    assert load_workbook(path).active["A2"].value == "bell\ufffd and tab\there"


def test_it_deletes_files_a_day_after_upload_unless_the_import_is_running(settings, tmp_path):
    settings.IMPORT_KEEP_HOURS = 24
    settings.IMPORT_DIR = tmp_path
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        previewed = _job()  # left at the mapping step: the file would wait for ever
        running = _job()
        ImportJob.objects.filter(pk=running.pk).update(status=ImportJob.Status.RUNNING)
        admin_upload = Path(settings.IMPORT_DIR) / ADMIN_UPLOADS / "django-import-export" / "x"
        admin_upload.parent.mkdir(parents=True, exist_ok=True)
        admin_upload.write_bytes(CSV)
        os.utime(admin_upload, (start.timestamp(), start.timestamp()))

        clock.shift(timedelta(hours=23))
        assert tasks.import_files_clean_up() == 0
        assert (previewed.folder / previewed.stored_file).exists()
        assert admin_upload.exists()

        clock.shift(timedelta(hours=2))
        assert tasks.import_files_clean_up() == 2
    assert not previewed.folder.exists()
    assert not admin_upload.exists()
    assert (running.folder / running.stored_file).exists()
    previewed.refresh_from_db()
    assert (previewed.stored_file, previewed.errors_file) == ("", "")


def test_it_deletes_the_upload_once_imported_and_keeps_only_the_rejected_rows(settings):
    job = _job(CSV + b"Jan,Kowal,not-an-email\n")
    services.import_job_start(job=job, dry_run=True)
    job.refresh_from_db()
    services.import_job_start(job=job, dry_run=False)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert sorted(path.name for path in job.folder.iterdir()) == ["errors.csv"]
    assert job.stored_file == ""
