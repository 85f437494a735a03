"""Logs: JSON lines with the fields operators need, and no personal data in them."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from crm.importing import services as importing
from crm.logs import JsonFormatter, PersonalDataFilter, exception_outline, logging_config
from crm.models import Contact
from outreach import services as outreach
from outreach.models import FollowUp
from tests.factories import ContactFactory, FollowUpFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the production handler's formatter and filter to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PersonalDataFilter())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.filters.clear()
    logger.propagate = True


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_it_writes_one_json_object_per_line(log):
    logger, stream = log
    logger.info("import %s done: %d rows", 12, 3)
    logger.warning("two\nlines")

    first, second = _lines(stream)
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.logs"
    assert first["message"] == "import 12 done: 3 rows"
    assert first["process"] == os.getpid()
    assert str(first["time"]).endswith("Z")
    written = datetime.fromisoformat(str(first["time"]).replace("Z", "+00:00"))
    assert abs(written - timezone.now()) < timedelta(seconds=10)
    assert second["message"] == "two\nlines"
    assert "exception" not in first


def test_it_includes_the_exception(log):
    logger, stream = log
    try:
        raise ValueError("the reason")
    except ValueError:
        logger.exception("import %s failed", 12)

    (line,) = _lines(stream)
    assert line["level"] == "ERROR"
    assert line["message"] == "import 12 failed"
    assert "Traceback (most recent call last)" in str(line["exception"])
    assert "ValueError: the reason" in str(line["exception"])


def test_it_masks_addresses_and_phone_numbers_in_the_message_its_arguments_and_the_traceback(log):
    logger, stream = log
    records: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        records.append(record)
        return True

    logger.addFilter(keep)
    try:
        raise ValueError("refused: małgorzata.w@przykład.pl")
    except ValueError as error:
        logger.exception(
            "to anna.nowak@example.pl (%s), %s, %s",
            "jan+kowalski@example.co.uk",
            "+48601234567",
            error,
        )
    logger.info("sent to %(to)s", {"to": "zoe@example.cz"})

    first, second = _lines(stream)
    assert first["message"] == "to [email] ([email]), [phone], refused: [email]"
    assert "refused: [email]" in str(first["exception"])
    assert "przykład" not in str(first["exception"])
    assert second["message"] == "sent to [email]"
    # The record itself is masked, for any other handler that sees it after this one.
    assert records[0].getMessage() == first["message"]


@pytest.mark.parametrize(
    "text",
    [
        "Connected to redis://:**@10.0.0.5:6379/1",  # a URL's hidden password
        "celery@worker-1 ready.",  # a Celery node name
        "contact 12345678, 48601234567 rows",
        "+49 170 1234567",  # not E.164: not recognised, never mistaken for something else
    ],
)
def test_it_leaves_what_is_not_an_address_or_phone_number(log, text):
    logger, stream = log
    logger.info(text)
    assert _lines(stream)[0]["message"] == text


def test_it_strips_the_query_string_from_the_development_servers_lines(log):
    _logger, stream = log
    server = logging.getLogger("django.server")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PersonalDataFilter())
    server.addHandler(handler)
    try:
        server.info('"%s" %s %s', "GET /contacts/?q=Wi%C5%9Bniewska HTTP/1.1", "200", "512")
    finally:
        server.removeHandler(handler)
    assert _lines(stream)[0]["message"] == '"GET /contacts/ HTTP/1.1" 200 512'


def test_it_outlines_an_exception_without_its_message():
    try:
        json.loads('{"name": "Małgorzata Wiśniewska"')
    except ValueError as error:
        outline = exception_outline(error)
    assert outline.startswith("JSONDecodeError at json/decoder.py:")
    assert "(from tests/crm/test_logs.py:" in outline
    assert "Wiśniewska" not in outline


def test_it_gives_each_request_an_id_in_its_log_lines_and_its_answer(client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/no-such-page/")
    assert response.status_code == 404
    (record,) = [record for record in caplog.records if record.name == "django.request"]
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "Not Found: /no-such-page/"
    assert line["status_code"] == 404
    assert line["request_id"] == response["X-Request-ID"]
    assert len(response["X-Request-ID"]) == 32
    assert client.get("/no-such-page/")["X-Request-ID"] != response["X-Request-ID"]


def test_it_sends_djangos_own_loggers_through_the_one_handler():
    config = logging_config(log_format="json", level="WARNING")
    assert config["handlers"]["console"]["filters"] == ["personal_data"]
    for name in ("django", "django.server"):
        assert config["loggers"][name] == {"handlers": [], "level": "WARNING", "propagate": True}
    assert config["loggers"]["django.db.backends"]["level"] == "INFO"


# Settings and processes


def _settings(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DEBUG", "LOG_"))
    }
    return subprocess.run(
        [sys.executable, "-c", "from crm import settings; print(settings.LOG_FORMAT)"],
        cwd=ROOT,
        env={**clean, "VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_logs_json_in_production_and_plain_text_under_debug(tmp_path):
    assert _settings({}, tmp_path).stdout.strip() == "json"
    assert _settings({"DEBUG": "true"}, tmp_path).stdout.strip() == "plain"
    assert _settings({"DEBUG": "true", "LOG_FORMAT": "JSON"}, tmp_path).stdout.strip() == "json"


@pytest.mark.parametrize(("name", "value"), [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")])
def test_it_refuses_an_unknown_log_format_or_level_naming_the_variable(name, value, tmp_path):
    result = _settings({name: value}, tmp_path)
    assert result.returncode != 0
    assert f"{name}={value!r} is invalid: expected one of" in result.stderr


def test_it_logs_json_from_the_celery_worker_and_beat(tmp_path):
    """Celery would put its own plain handlers on the root logger (crm/celery.py)."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DEBUG", "LOG_", "CELERY_", "DATABASE_"))
    }
    env = {**clean, "VAR_DIR": str(tmp_path), "LOG_FORMAT": "json"}
    celery = str(Path(sys.executable).parent / "celery")
    commands = {
        "worker": [celery, "-A", "crm", "--quiet", "worker", "--pool=solo", "--without-mingle"],
        "beat": [celery, "-A", "crm", "--quiet", "beat", f"--schedule={tmp_path / 'schedule'}"],
    }
    expected = {"worker": "ready.", "beat": "beat: Starting..."}
    outputs = {name: tmp_path / f"{name}.log" for name in commands}
    processes = {}
    for name, command in commands.items():
        with outputs[name].open("w") as stderr:
            processes[name] = subprocess.Popen(
                command, cwd=ROOT, env=env, stderr=stderr, stdout=subprocess.DEVNULL
            )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
            expected[name] in outputs[name].read_text() for name in commands
        ):
            time.sleep(0.1)
    finally:
        for process in processes.values():
            process.kill()  # a warm shutdown takes seconds, and nothing here needs one
            process.wait(timeout=20)
    for name in commands:
        text = outputs[name].read_text()
        line = next((line for line in text.splitlines() if expected[name] in line), None)
        assert line is not None, text
        entry = json.loads(line)
        assert entry["logger"].startswith("celery."), line
        assert entry["level"] == "INFO"
        assert "INFO/MainProcess]" not in text  # Celery's own format


# What the CRM's flows log


def test_it_logs_no_personal_data_in_the_crms_flows(
    client, staff_client, organizer, caplog, eager_tasks, django_capture_on_commit_callbacks
):
    person = ContactFactory.create(
        first_name="Małgorzata",
        last_name="Wiśniewska",
        email="m.wisniewska@przyklad.pl",
        phone="+48601234567",
        country="PL",
        timezone="Europe/Warsaw",
    )
    secrets = [
        "Małgorzata",
        "Wiśniewska",
        "m.wisniewska",
        "przyklad.pl",
        "+48601234567",
        "601234567",
        "Kowalczyk",
        "jan.k@",
        "601111222",
    ]
    caplog.set_level(logging.DEBUG)

    # A failed sign-in with the address typed as the user name.
    client.post(
        reverse("login"),
        {"username": person.email, "password": "not the password"},
        REMOTE_ADDR="203.0.113.9",
    )
    # Looking for the person on a page that does not exist: the path is logged, not the query.
    assert staff_client.get("/contacts/999999999/", {"q": person.last_name}).status_code == 404
    # A follow-up sent to them.
    FollowUpFactory.create(
        contact=person,
        subject="Thank you, {{ first_name }}",
        send_at=timezone.now() - timedelta(minutes=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert outreach.followups_dispatch_due() == 1
    assert FollowUp.objects.get().status == FollowUp.Status.SENT
    assert mail.outbox[0].to == [person.email]
    # A spreadsheet named after her, with a new person and a row that is refused.
    rows = (
        "first_name,last_name,email,phone,country\n"
        "Jan,Kowalczyk,jan.k@example.pl,+48 601 111 222,PL\n"
        "Małgorzata,Wiśniewska,m.wisniewska@przyklad.pl,601234567 or so,PL\n"
    )
    job = importing.import_job_create(
        upload=[rows.encode()], file_name="Małgorzata Wiśniewska.csv", user=organizer
    )
    job = importing.import_job_start(job=job, dry_run=True)
    job = importing.import_job_start(job=job, dry_run=False)
    assert job.status == job.Status.DONE
    assert Contact.objects.filter(last_name="Kowalczyk").exists()

    logged = [record.name for record in caplog.records]
    assert "axes.handlers.database" in logged
    assert "django.request" in logged
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        for secret in secrets:
            assert secret not in text, f"{record.name}: {text}"
        # Nothing needed masking: these flows do not try to log an address or a number.
        assert "[email]" not in text
        assert "[phone]" not in text, f"{record.name}: {text}"
    for secret in secrets:
        assert secret not in caplog.text
